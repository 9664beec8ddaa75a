import { Type, type Static } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdResponse, ListResponse } from '../../schemas.js';
import { getRoleView, listRoles, resolveRoleNames, type RolePage } from './repository.js';
import { MemberOut, RoleIn, RoleOut, RoleParams, RolePagingQuery, RoleRefOut, RoleResolveIn, RoleSearchIn } from './schemas.js';
import { createRoleAs, deleteRoleAs, evaluateRole, updateRoleAs, type UseCaseDeps } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

function pageOf(query: Static<typeof RolePagingQuery>): RolePage {
  return { offset: query.offset ?? 0, limit: query.limit, sortkey: query.sortkey ?? 'name', descending: query.sortdir?.toLowerCase() === 'desc' };
}

const PAGING = 'Paged by `offset` and `limit` (default: all), sorted by `sortkey` (name, id, created, updated; default name) and `sortdir`; `count` is the total.';

/** `/role-store/api/v1/roles`, `/roles/{id}`, `/roles/resolve`, `/roles/search`: roles and the permissions they hold. */
export function registerRoleRoutes(app: TypedApp, deps: UseCaseDeps): void {
  const { db } = deps;

  app.get(
    '/roles',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: { summary: 'List roles', description: PAGING, tags: ['roles'], querystring: RolePagingQuery, response: { 200: ListResponse(RoleOut), ...errorResponses(400, 401, 403) } },
    },
    async (request) => listRoles(db, pageOf(request.query)),
  );

  app.post(
    '/roles',
    {
      config: { permissions: ['roles-manage'] },
      schema: { summary: 'Create a role (needs every permission it gets)', tags: ['roles'], body: RoleIn, response: { 201: IdResponse, ...errorResponses(400, 401, 403, 409) } },
    },
    async (request, reply) => {
      const id = await createRoleAs(deps, principalOf(request), request.body);
      return reply.code(201).send({ id });
    },
  );

  app.post(
    '/roles/resolve',
    {
      // Whoever assigns roles by name (users, API clients, host principals) resolves them first.
      config: { permissions: ['roles-view', 'roles-manage', 'users-view', 'users-manage', 'api-clients-manage', 'hosts-view', 'hosts-manage'] },
      schema: {
        summary: 'Resolve role names to roles',
        description: 'A JSON array of names; answers `{count, items: [{id, name}]}` for the names that exist (unknown names are left out).',
        tags: ['roles'],
        body: Type.Union([RoleResolveIn, Type.Null()]),
        response: { 200: ListResponse(RoleRefOut), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const items = await resolveRoleNames(db, request.body ?? []);
      return { count: items.length, items };
    },
  );

  app.post(
    '/roles/search',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: {
        summary: 'Search roles',
        description: `\`name\`: exact names, any of; \`keywords\`: a case-insensitive part of the name or comment. ${PAGING}`,
        tags: ['roles'],
        querystring: RolePagingQuery,
        body: Type.Union([RoleSearchIn, Type.Null()]),
        response: { 200: ListResponse(RoleOut), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const search = request.body ?? {};
      return listRoles(db, pageOf(request.query), { names: search.name ?? [], ...(search.keywords ? { keywords: search.keywords } : {}) });
    },
  );

  app.post(
    '/roles/evaluate',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: {
        summary: 'Evaluate a role definition: the users its source rules would add',
        description: 'Validates the definition like POST /roles. privgate stores source rules but does not evaluate them (members are added explicitly), so no user is added implicitly: the list is empty.',
        tags: ['roles'],
        body: RoleIn,
        response: { 200: ListResponse(MemberOut), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => evaluateRole(request.body),
  );

  app.get(
    '/roles/:id',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: { summary: 'Get a role', tags: ['roles'], params: RoleParams, response: { 200: RoleOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => getRoleView(db, request.params.id),
  );

  app.put(
    '/roles/:id',
    {
      config: { permissions: ['roles-manage'] },
      schema: {
        summary: 'Update a role (needs every permission it has before and after)',
        description: 'Replaces every field; read-only fields a client echoes (id, created, member_count, principal_public_key_strings, …) are ignored. Changing the permissions or the contextual limit revokes the members\' tokens. privx-admin cannot get a contextual limit.',
        tags: ['roles'],
        params: RoleParams,
        body: RoleIn,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      await updateRoleAs(deps, principalOf(request), request.params.id, request.body);
      return {};
    },
  );

  app.delete(
    '/roles/:id',
    {
      config: { permissions: ['roles-manage'] },
      schema: { summary: 'Delete a role (built-in roles cannot be deleted; needs every permission it has)', tags: ['roles'], params: RoleParams, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      await deleteRoleAs(deps, principalOf(request), request.params.id);
      return {};
    },
  );
}
