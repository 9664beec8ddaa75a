import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, ListResponse, PagingQuery } from '../../schemas.js';
import { getApiClient, listApiClients } from './repository.js';
import { Name, RoleRefOut, RoleRefs } from './schemas.js';
import { createApiClientAs, deleteApiClientAs, rotateApiClientSecretsAs, updateApiClientAs, type LocalUserStoreDeps } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

// `secret` and `oauth_client_secret` exist for PrivX clients' strict types but are always empty:
// privgate keeps only hashes, and shows the values once, in the create/rotate response.
const ApiClientOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  secret: Type.String(),
  roles: Type.Array(RoleRefOut),
  oauth_client_id: Type.String(),
  oauth_client_secret: Type.String(),
  created: Type.String(),
  updated: Type.String(),
  author: Type.String(),
});
const Credentials = Type.Object({ id: Type.String(), secret: Type.String(), oauth_client_id: Type.String(), oauth_client_secret: Type.String() });
const ApiClientIn = Type.Object({ name: Name, roles: Type.Optional(RoleRefs) }, { additionalProperties: true });
const Params = Type.Object({ id: IdParam });

/** `/local-user-store/api/v1/api-clients`: machine clients of the API, with generated secrets. */
export function registerApiClientRoutes(app: TypedApp): void {
  const { database, clock, secretKey } = app.context;
  const db = database.db;
  const deps: LocalUserStoreDeps = { db, clock, secretKey, tokens: app.tokens };

  app.get(
    '/api-clients',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: { summary: 'List API clients (secrets never included)', tags: ['api-clients'], querystring: Type.Object(PagingQuery), response: { 200: ListResponse(ApiClientOut), ...errorResponses(400, 401, 403) } },
    },
    async (request) => {
      const query = request.query;
      const list = await listApiClients(db, query.offset ?? 0, query.limit ?? 50, query.sortdir?.toLowerCase() === 'desc');
      return { count: list.count, items: list.items.map((client) => ({ ...client, secret: '', oauth_client_secret: '' })) };
    },
  );

  app.post(
    '/api-clients',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: {
        summary: 'Create an API client (needs every permission of each role it gets); the response carries its secrets, shown this once',
        tags: ['api-clients'],
        body: ApiClientIn,
        response: { 201: Credentials, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await createApiClientAs(deps, principalOf(request), request.body)),
  );

  app.get(
    '/api-clients/:id',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: { summary: 'Get an API client (secrets never included)', tags: ['api-clients'], params: Params, response: { 200: ApiClientOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => ({ ...(await getApiClient(db, request.params.id)), secret: '', oauth_client_secret: '' }),
  );

  app.put(
    '/api-clients/:id',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: { summary: 'Update an API client (needs every permission it holds and each role it gets; privx-admin keeps an enabled holder, else 409)', tags: ['api-clients'], params: Params, body: ApiClientIn, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) } },
    },
    async (request) => {
      await updateApiClientAs(deps, principalOf(request), request.params.id, request.body);
      return {};
    },
  );

  app.post(
    '/api-clients/:id/rotate-secret',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: {
        summary: 'Replace the client secret and OAuth client secret (needs every permission the client holds); revokes the client’s tokens',
        tags: ['api-clients'],
        params: Params,
        response: { 200: Credentials, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => rotateApiClientSecretsAs(deps, principalOf(request), request.params.id),
  );

  app.delete(
    '/api-clients/:id',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: { summary: 'Delete an API client and revoke its tokens (needs every permission it holds; privx-admin keeps an enabled holder, else 409)', tags: ['api-clients'], params: Params, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) } },
    },
    async (request) => {
      await deleteApiClientAs(deps, principalOf(request), request.params.id);
      return {};
    },
  );
}
