import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, ListResponse, PagingQuery } from '../../schemas.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { createApiClient, deleteApiClient, getApiClient, listApiClients, rotateApiClientSecrets, updateApiClient } from './repository.js';
import { Name, RoleRefOut, RoleRefs } from './schemas.js';

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

type ApiClientBody = { name: string; roles?: Array<{ id: string }> | null };

/** `/local-user-store/api/v1/api-clients`: machine clients of the API, with generated secrets. */
export function registerApiClientRoutes(app: FastifyInstance): void {
  const { database, clock, secretKey } = app.context;
  const db = database.db;

  app.get(
    '/api-clients',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: { summary: 'List API clients (secrets never included)', tags: ['api-clients'], querystring: Type.Object(PagingQuery), response: { 200: ListResponse(ApiClientOut), ...errorResponses(400, 401, 403) } },
    },
    async (request) => {
      const query = request.query as { offset?: number; limit?: number; sortdir?: string };
      const list = await listApiClients(db, query.offset ?? 0, query.limit ?? 50, query.sortdir?.toLowerCase() === 'desc');
      return { count: list.count, items: list.items.map((client) => ({ ...client, secret: '', oauth_client_secret: '' })) };
    },
  );

  app.post(
    '/api-clients',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: {
        summary: 'Create an API client; the response carries its secrets, shown this once',
        tags: ['api-clients'],
        body: ApiClientIn,
        response: { 201: Credentials, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const body = request.body as ApiClientBody;
      const principal = principalOf(request);
      const credentials = await createApiClient(db, secretKey, body, principal.id, clock.now());
      await recordAuditEvent(db, { type: 'api_client_created', outcome: 'success', principal, objectType: 'api-client', objectId: credentials.id, details: { name: body.name }, at: clock.now() });
      return reply.code(201).send(credentials);
    },
  );

  app.get(
    '/api-clients/:id',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: { summary: 'Get an API client (secrets never included)', tags: ['api-clients'], params: Params, response: { 200: ApiClientOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => ({ ...(await getApiClient(db, (request.params as { id: string }).id)), secret: '', oauth_client_secret: '' }),
  );

  app.put(
    '/api-clients/:id',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: { summary: 'Update an API client', tags: ['api-clients'], params: Params, body: ApiClientIn, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) } },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const body = request.body as ApiClientBody;
      const before = await updateApiClient(db, id, body, clock.now());
      const after = await getApiClient(db, id);
      if (JSON.stringify(after.roles) !== JSON.stringify(before.roles)) await app.tokens.revokePrincipal('api-client', id);
      await recordAuditEvent(db, {
        type: 'api_client_updated',
        outcome: 'success',
        principal: principalOf(request),
        objectType: 'api-client',
        objectId: id,
        details: { before: { name: before.name, roles: before.roles }, after: { name: after.name, roles: after.roles } },
        at: clock.now(),
      });
      return {};
    },
  );

  app.post(
    '/api-clients/:id/rotate-secret',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: {
        summary: 'Replace the client secret and OAuth client secret; revokes the client’s tokens',
        tags: ['api-clients'],
        params: Params,
        response: { 200: Credentials, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const credentials = await rotateApiClientSecrets(db, secretKey, id, clock.now());
      await app.tokens.revokePrincipal('api-client', id);
      await recordAuditEvent(db, { type: 'api_client_secret_rotated', outcome: 'success', principal: principalOf(request), objectType: 'api-client', objectId: id, at: clock.now() });
      return credentials;
    },
  );

  app.delete(
    '/api-clients/:id',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: { summary: 'Delete an API client and revoke its tokens', tags: ['api-clients'], params: Params, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const before = await deleteApiClient(db, id);
      await app.tokens.revokePrincipal('api-client', id);
      await recordAuditEvent(db, { type: 'api_client_deleted', outcome: 'success', principal: principalOf(request), objectType: 'api-client', objectId: id, details: { name: before.name }, at: clock.now() });
      return {};
    },
  );
}
