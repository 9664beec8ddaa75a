import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, IdResponse, ListResponse, NullableArray } from '../../schemas.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { registerStatusRoute } from '../status.js';
import { PERMISSIONS } from './permissions.js';
import { addMember, createRole, deleteRole, getRole, listRoles, membersOf, removeMember, updateRole, type MemberType } from './repository.js';

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
      schema: { summary: 'Create a role', tags: ['roles'], body: RoleIn, response: { 201: IdResponse, ...errorResponses(400, 401, 403, 409) } },
    },
    async (request, reply) => {
      const body = request.body as { name: string; comment?: string; permissions: string[] | null };
      const principal = principalOf(request);
      const id = await createRole(db, { ...body, permissions: body.permissions ?? [] }, principal.id, clock.now());
      await recordAuditEvent(db, { type: 'role_created', outcome: 'success', principal, objectType: 'role', objectId: id, details: { name: body.name, permissions: body.permissions ?? [] }, at: clock.now() });
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
      schema: { summary: 'Update a role', tags: ['roles'], params: Params, body: RoleIn, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) } },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const body = request.body as { name: string; comment?: string; permissions: string[] | null };
      const before = await updateRole(db, id, { ...body, permissions: body.permissions ?? [] }, clock.now());
      // Members' tokens carry the old permissions; make them re-authenticate.
      if (JSON.stringify([...before.permissions].sort()) !== JSON.stringify([...(body.permissions ?? [])].sort())) {
        for (const member of await membersOf(db, id)) await app.tokens.revokePrincipal(member.type, member.id);
      }
      await recordAuditEvent(db, {
        type: 'role_updated',
        outcome: 'success',
        principal: principalOf(request),
        objectType: 'role',
        objectId: id,
        details: { before: { name: before.name, permissions: before.permissions }, after: { name: body.name, permissions: body.permissions ?? [] } },
        at: clock.now(),
      });
      return {};
    },
  );

  app.delete(
    '/roles/:id',
    {
      config: { permissions: ['roles-manage'] },
      schema: { summary: 'Delete a role (built-in roles cannot be deleted)', tags: ['roles'], params: Params, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const members = await membersOf(db, id);
      const before = await deleteRole(db, id);
      for (const member of members) await app.tokens.revokePrincipal(member.type, member.id);
      await recordAuditEvent(db, { type: 'role_deleted', outcome: 'success', principal: principalOf(request), objectType: 'role', objectId: id, details: { name: before.name }, at: clock.now() });
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
        summary: 'Add a user or API client to a role',
        tags: ['roles'],
        params: Params,
        body: Type.Object({ principal_id: IdParam, principal_type: MemberType }, { additionalProperties: false }),
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const body = request.body as { principal_id: string; principal_type: MemberType };
      if (await addMember(db, id, body.principal_type, body.principal_id, clock.now())) {
        await app.tokens.revokePrincipal(body.principal_type, body.principal_id);
        await recordAuditEvent(db, { type: 'role_member_added', outcome: 'success', principal: principalOf(request), objectType: 'role', objectId: id, details: { member: body }, at: clock.now() });
      }
      return {};
    },
  );

  app.delete(
    '/roles/:id/members/:memberId',
    {
      config: { permissions: ['roles-manage'] },
      schema: {
        summary: 'Remove a member from a role',
        tags: ['roles'],
        params: Type.Object({ id: IdParam, memberId: IdParam }),
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id, memberId } = request.params as { id: string; memberId: string };
      const type = await removeMember(db, id, memberId);
      await app.tokens.revokePrincipal(type, memberId);
      await recordAuditEvent(db, { type: 'role_member_removed', outcome: 'success', principal: principalOf(request), objectType: 'role', objectId: id, details: { member: { principal_id: memberId, principal_type: type } }, at: clock.now() });
      return {};
    },
  );
}
