import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, IdResponse, ListResponse, NullableArray } from '../../schemas.js';
import { registerStatusRoute } from '../status.js';
import { PERMISSIONS } from './permissions.js';
import { getRole, listRoles, membersOf, type MemberType } from './repository.js';
import { addRoleMemberAs, createRoleAs, deleteRoleAs, removeRoleMemberAs, updateRoleAs, type UseCaseDeps } from './use-cases.js';

const RoleOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  comment: Type.String(),
  permissions: Type.Array(Type.String()),
  system: Type.Boolean(),
  created: Type.String(),
  updated: Type.String(),
  author: Type.String(),
});
const RoleIn = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
    comment: Type.Optional(Type.String({ maxLength: 2000 })),
    permissions: NullableArray(Type.String({ maxLength: 100 }), { maxItems: 200 }),
  },
  { additionalProperties: true },
);
const MemberOut = Type.Object({ id: Type.String(), type: Type.String(), name: Type.String() });
const MemberType = Type.Union([Type.Literal('user'), Type.Literal('api-client')]);
const Params = Type.Object({ id: IdParam });

/** `/role-store/api/v1`: roles, their permissions and members. */
export default async function roleStoreService(app: FastifyInstance): Promise<void> {
  registerStatusRoute(app, 'role-store');
  const { database, clock } = app.context;
  const db = database.db;
  const deps: UseCaseDeps = { db, clock, tokens: app.tokens };

  app.get(
    '/permissions',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: { summary: 'The permission strings a role may hold', tags: ['roles'], response: { 200: ListResponse(Type.String()), ...errorResponses(401, 403) } },
    },
    async () => ({ count: PERMISSIONS.length, items: [...PERMISSIONS] }),
  );

  app.get(
    '/roles',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: { summary: 'List roles', tags: ['roles'], response: { 200: ListResponse(RoleOut), ...errorResponses(401, 403) } },
    },
    async () => {
      const roles = await listRoles(db);
      return { count: roles.length, items: roles };
    },
  );

  app.post(
    '/roles',
    {
      config: { permissions: ['roles-manage'] },
      schema: { summary: 'Create a role (needs every permission it gets)', tags: ['roles'], body: RoleIn, response: { 201: IdResponse, ...errorResponses(400, 401, 403, 409) } },
    },
    async (request, reply) => {
      const body = request.body as { name: string; comment?: string; permissions: string[] | null };
      const id = await createRoleAs(deps, principalOf(request), { ...body, permissions: body.permissions ?? [] });
      return reply.code(201).send({ id });
    },
  );

  app.get(
    '/roles/:id',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: { summary: 'Get a role', tags: ['roles'], params: Params, response: { 200: RoleOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => getRole(db, (request.params as { id: string }).id),
  );

  app.put(
    '/roles/:id',
    {
      config: { permissions: ['roles-manage'] },
      schema: { summary: 'Update a role (needs every permission it has before and after)', tags: ['roles'], params: Params, body: RoleIn, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) } },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const body = request.body as { name: string; comment?: string; permissions: string[] | null };
      await updateRoleAs(deps, principalOf(request), id, { ...body, permissions: body.permissions ?? [] });
      return {};
    },
  );

  app.delete(
    '/roles/:id',
    {
      config: { permissions: ['roles-manage'] },
      schema: { summary: 'Delete a role (built-in roles cannot be deleted; needs every permission it has)', tags: ['roles'], params: Params, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      await deleteRoleAs(deps, principalOf(request), (request.params as { id: string }).id);
      return {};
    },
  );

  app.get(
    '/roles/:id/members',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: { summary: 'Members of a role', tags: ['roles'], params: Params, response: { 200: ListResponse(MemberOut), ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      const members = await membersOf(db, (request.params as { id: string }).id);
      return { count: members.length, items: members };
    },
  );

  app.post(
    '/roles/:id/members',
    {
      config: { permissions: ['roles-manage'] },
      schema: {
        summary: 'Add a user or API client to a role (needs every permission of the role and of the member)',
        tags: ['roles'],
        params: Params,
        body: Type.Object({ principal_id: IdParam, principal_type: MemberType }, { additionalProperties: false }),
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      await addRoleMemberAs(deps, principalOf(request), id, request.body as { principal_id: string; principal_type: MemberType });
      return {};
    },
  );

  app.delete(
    '/roles/:id/members/:memberId',
    {
      config: { permissions: ['roles-manage'] },
      schema: {
        summary: 'Remove a member from a role (needs every permission the member holds; privx-admin keeps an enabled member, else 409)',
        tags: ['roles'],
        params: Type.Object({ id: IdParam, memberId: IdParam }),
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const { id, memberId } = request.params as { id: string; memberId: string };
      await removeRoleMemberAs(deps, principalOf(request), id, memberId);
      return {};
    },
  );
}
