import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, IdResponse, ListResponse, NullableArray, PagingQuery } from '../../schemas.js';
import type { UseCaseDeps } from '../role-store/use-cases.js';
import { Name } from './schemas.js';
import { getTrustedClient, listTrustedClients, TRUSTED_CLIENT_TYPES, type TrustedClient } from './trusted-client-repository.js';
import { createTrustedClientAs, deleteTrustedClientAs, updateTrustedClientAs } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

// `secret` is in the model for PrivX clients' strict types but always "": privgate keeps only a
// keyed hash of the one-time registration secret, which travels only in a config download.
const TrustedClientOut = Type.Object({
  id: Type.String(),
  type: Type.String(),
  secret: Type.String(),
  name: Type.String(),
  permissions: Type.Array(Type.String()),
  subnets: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  registered: Type.Boolean(),
  allow_repeated_registration: Type.Boolean(),
  oauth_client_id: Type.String(),
  web_proxy_address: Type.String(),
  web_proxy_port: Type.String(),
  routing_prefix: Type.String(),
  extender_address: Type.Array(Type.String()),
  group_id: Type.String(),
  data: Type.String(),
  access_group_id: Type.String(),
  extender_mode: Type.String(),
  web_proxy_extender_route_patterns: Type.Array(Type.String()),
  extender_ssh_address: Type.String(),
  extender_ssh_port: Type.Integer(),
  extender_public_key: Type.String(),
  created: Type.String(),
  updated: Type.String(),
  updated_by: Type.String(),
  author: Type.String(),
});

const Text = (maxLength: number) => Type.String({ maxLength });

/**
 * The body of create and update: the SDK's TrustedClient. Every field of the GET answer is accepted
 * so a read-modify-write round trip works; server-managed fields (id, secret, registered, OAuth
 * credentials, timestamps, author, updated_by) are ignored. Unknown keys are rejected.
 */
const TrustedClientIn = Type.Object(
  {
    type: Type.Union(TRUSTED_CLIENT_TYPES.map((type) => Type.Literal(type))),
    name: Name,
    permissions: Type.Optional(NullableArray(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100 })),
    subnets: Type.Optional(NullableArray(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 200 })),
    enabled: Type.Optional(Type.Boolean()),
    allow_repeated_registration: Type.Optional(Type.Boolean()),
    web_proxy_address: Type.Optional(Text(253)),
    web_proxy_port: Type.Optional(Text(5)),
    routing_prefix: Type.Optional(Text(200)),
    extender_address: Type.Optional(NullableArray(Type.String({ maxLength: 300 }), { maxItems: 100 })),
    group_id: Type.Optional(Text(200)),
    data: Type.Optional(Text(65_536)),
    access_group_id: Type.Optional(Text(200)),
    extender_mode: Type.Optional(Text(50)),
    web_proxy_extender_route_patterns: Type.Optional(NullableArray(Type.String({ maxLength: 500 }), { maxItems: 200 })),
    extender_ssh_address: Type.Optional(Text(253)),
    extender_ssh_port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    extender_public_key: Type.Optional(Text(16_384)),
    id: Type.Optional(Text(200)),
    secret: Type.Optional(Text(1000)),
    registered: Type.Optional(Type.Boolean()),
    oauth_client_id: Type.Optional(Text(200)),
    oauth_client_secret: Type.Optional(Text(1000)),
    created: Type.Optional(Text(100)),
    updated: Type.Optional(Text(100)),
    updated_by: Type.Optional(Text(200)),
    author: Type.Optional(Text(200)),
  },
  { additionalProperties: false },
);
const Params = Type.Object({ id: IdParam });

function out(client: TrustedClient) {
  return { ...client, secret: '' };
}


/** `/local-user-store/api/v1/trusted-clients`: web proxies, extenders, carriers, … */
export function registerTrustedClientRoutes(app: TypedApp): void {
  const { database, clock } = app.context;
  const db = database.db;
  const deps: UseCaseDeps = { db, clock, tokens: app.tokens };

  app.get(
    '/trusted-clients',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: { summary: 'List trusted clients (secrets never included)', tags: ['trusted-clients'], querystring: Type.Object(PagingQuery), response: { 200: ListResponse(TrustedClientOut), ...errorResponses(400, 401, 403) } },
    },
    async (request) => {
      const query = request.query;
      const list = await listTrustedClients(db, query.offset ?? 0, query.limit ?? 50, query.sortdir?.toLowerCase() === 'desc');
      return { count: list.count, items: list.items.map(out) };
    },
  );

  app.post(
    '/trusted-clients',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: {
        summary: 'Create a trusted client; a web proxy (ICAP) then gets its config via /authorizer/api/v1/icap/conf',
        tags: ['trusted-clients'],
        body: TrustedClientIn,
        response: { 201: IdResponse, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => reply.code(201).send({ id: await createTrustedClientAs(deps, principalOf(request), request.body) }),
  );

  app.get(
    '/trusted-clients/:id',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: { summary: 'Get a trusted client (secret always "")', tags: ['trusted-clients'], params: Params, response: { 200: TrustedClientOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => out(await getTrustedClient(db, request.params.id)),
  );

  app.put(
    '/trusted-clients/:id',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: {
        summary: 'Update a trusted client; disabling it revokes its tokens and web-proxy certificate and drops its registration',
        tags: ['trusted-clients'],
        params: Params,
        body: TrustedClientIn,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      await updateTrustedClientAs(deps, principalOf(request), request.params.id, request.body);
      return {};
    },
  );

  app.delete(
    '/trusted-clients/:id',
    {
      config: { permissions: ['api-clients-manage'] },
      schema: {
        summary: 'Delete a trusted client; revokes its tokens and web-proxy certificate',
        tags: ['trusted-clients'],
        params: Params,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await deleteTrustedClientAs(deps, principalOf(request), request.params.id);
      return {};
    },
  );
}
