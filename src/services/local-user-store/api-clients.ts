import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, ListResponse, PagingQuery } from '../../schemas.js';
import { API_CLIENT_SORT_KEYS, type ApiClientListOptions } from './api-client-repository.js';
import { Name, RoleRefOut, RoleRefs } from './schemas.js';
import {
  createApiClientAs,
  deleteApiClientAs,
  listApiClientsAs,
  readApiClientAs,
  rotateApiClientSecretsAs,
  updateApiClientAs,
  type ApiClientDeps,
} from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/**
 * The SDK's APIClient. `secret` and `oauth_client_secret` are the client's credentials for holders
 * of api-clients-manage that also hold every permission of the client's roles, else "" (and ""
 * for clients made before secrets were sealed, until rotated).
 */
const ApiClientOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  secret: Type.String(),
  roles: Type.Array(RoleRefOut),
  oauth_client_id: Type.String(),
  oauth_client_secret: Type.String(),
  created: Type.String(),
  updated: Type.String(),
  updated_by: Type.String(),
  author: Type.String(),
});
const Credentials = Type.Object({ id: Type.String(), secret: Type.String(), oauth_client_id: Type.String(), oauth_client_secret: Type.String() });
const Text = (maxLength: number) => Type.String({ maxLength });

/**
 * Create and update bodies: `name` and `roles` count. The rest of the SDK's APIClient (what GET
 * answered, which the Terraform provider sends back) is accepted and ignored: ids, timestamps and
 * secrets are the server's.
 */
const ApiClientIn = Type.Object(
  {
    name: Name,
    roles: Type.Optional(RoleRefs),
    id: Type.Optional(Text(200)),
    secret: Type.Optional(Text(1000)),
    oauth_client_id: Type.Optional(Text(200)),
    oauth_client_secret: Type.Optional(Text(1000)),
    created: Type.Optional(Text(100)),
    updated: Type.Optional(Text(100)),
    updated_by: Type.Optional(Text(200)),
    author: Type.Optional(Text(200)),
  },
  { additionalProperties: true },
);
const SortKey = Type.Union(API_CLIENT_SORT_KEYS.map((key) => Type.Literal(key)));
const ListQuery = Type.Object({ ...PagingQuery, sortkey: Type.Optional(SortKey) });
/** The SDK's APIClientSearch: paging and sorting travel in the body (the query is read too; the body wins). */
const SearchIn = Type.Object(
  {
    keywords: Type.Optional(Text(200)),
    offset: Type.Optional(PagingQuery.offset),
    limit: Type.Optional(PagingQuery.limit),
    sortkey: Type.Optional(Type.Union([SortKey, Type.Literal('')])),
    sortdir: Type.Optional(Type.Union([PagingQuery.sortdir, Type.Literal('')])),
  },
  { additionalProperties: false },
);
const Params = Type.Object({ id: IdParam });

function listOptions(query: { offset?: number | undefined; limit?: number | undefined; sortkey?: string | undefined; sortdir?: string | undefined; keywords?: string | undefined }): ApiClientListOptions {
  const sortkey = API_CLIENT_SORT_KEYS.find((key) => key === query.sortkey) ?? 'name';
  return { offset: query.offset ?? 0, limit: query.limit ?? 50, sortkey, descending: query.sortdir?.toLowerCase() === 'desc', keywords: query.keywords };
}

/** `/local-user-store/api/v1/api-clients`: machine clients of the API, with generated secrets. */
export function registerApiClientRoutes(app: TypedApp): void {
  const { database, clock, secretKey, installationKey } = app.context;
  const deps: ApiClientDeps = { db: database.db, clock, secretKey, installationKey, tokens: app.tokens };

  app.get(
    '/api-clients',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: {
        summary: 'List API clients (secrets only for callers holding every permission of the client’s roles)',
        tags: ['api-clients'],
        querystring: ListQuery,
        response: { 200: ListResponse(ApiClientOut), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listApiClientsAs(deps, principalOf(request), listOptions(request.query)),
  );

  app.post(
    '/api-clients/search',
    {
      config: { permissions: ['api-clients-manage'] },
      // No body (or an empty one with a JSON content type) searches with no filter.
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        summary: 'Search API clients by name (keywords: case-insensitive substring); secrets as in the list',
        tags: ['api-clients'],
        querystring: ListQuery,
        body: SearchIn,
        response: { 200: ListResponse(ApiClientOut), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const body = request.body;
      const options = listOptions({
        ...request.query,
        ...(body.offset !== undefined ? { offset: body.offset } : {}),
        ...(body.limit !== undefined ? { limit: body.limit } : {}),
        ...(body.sortkey ? { sortkey: body.sortkey } : {}),
        ...(body.sortdir ? { sortdir: body.sortdir } : {}),
        keywords: body.keywords,
      });
      return listApiClientsAs(deps, principalOf(request), options);
    },
  );

  app.post(
    '/api-clients',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: {
        summary: 'Create an API client (needs every permission of each role it gets); the response carries its secrets',
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
      schema: {
        summary: 'Get an API client (secrets only for callers holding every permission of the client’s roles)',
        tags: ['api-clients'],
        params: Params,
        response: { 200: ApiClientOut, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => readApiClientAs(deps, principalOf(request), request.params.id),
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
