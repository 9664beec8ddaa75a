import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, IdResponse, ListResponse, PagingQuery } from '../../schemas.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { createUser, deleteUser, getUser, listUsers, setUserPassword, updateUser } from './repository.js';
import { Name, Password, RoleRefOut, RoleRefs } from './schemas.js';

const UserOut = Type.Object({
  id: Type.String(),
  username: Type.String(),
  email: Type.String(),
  full_name: Type.String(),
  disabled: Type.Boolean(),
  builtin: Type.Boolean(),
  roles: Type.Array(RoleRefOut),
  created: Type.String(),
  updated: Type.String(),
  author: Type.String(),
});
const UserIn = Type.Object(
  {
    username: Name,
    email: Type.Optional(Type.String({ maxLength: 320 })),
    full_name: Type.Optional(Type.String({ maxLength: 200 })),
    disabled: Type.Optional(Type.Boolean()),
    roles: Type.Optional(RoleRefs),
  },
  { additionalProperties: false },
);
const UserCreate = Type.Composite([UserIn, Type.Object({ password: Type.Optional(Password) })], { additionalProperties: false });
const Params = Type.Object({ id: IdParam });

type UserBody = { username: string; email?: string; full_name?: string; disabled?: boolean; roles?: Array<{ id: string }> | null; password?: string };

/** `/local-user-store/api/v1/users`: local users; passwords only as scrypt hashes. */
export function registerUserRoutes(app: FastifyInstance): void {
  const { database, clock } = app.context;
  const db = database.db;

  app.get(
    '/users',
    {
      config: { permissions: ['users-view', 'users-manage'] },
      schema: { summary: 'List local users', tags: ['users'], querystring: Type.Object(PagingQuery), response: { 200: ListResponse(UserOut), ...errorResponses(400, 401, 403) } },
    },
    async (request) => {
      const query = request.query as { offset?: number; limit?: number; sortdir?: string };
      return listUsers(db, query.offset ?? 0, query.limit ?? 50, query.sortdir?.toLowerCase() === 'desc');
    },
  );

  app.post(
    '/users',
    {
      config: { permissions: ['users-manage'] },
      schema: { summary: 'Create a local user', tags: ['users'], body: UserCreate, response: { 201: IdResponse, ...errorResponses(400, 401, 403, 409) } },
    },
    async (request, reply) => {
      const body = request.body as UserBody;
      const principal = principalOf(request);
      const id = await createUser(db, body, principal.id, clock.now());
      await recordAuditEvent(db, { type: 'user_created', outcome: 'success', principal, objectType: 'user', objectId: id, details: { username: body.username }, at: clock.now() });
      return reply.code(201).send({ id });
    },
  );

  app.get(
    '/users/:id',
    {
      config: { permissions: ['users-view', 'users-manage'] },
      schema: { summary: 'Get a local user', tags: ['users'], params: Params, response: { 200: UserOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => getUser(db, (request.params as { id: string }).id),
  );

  app.put(
    '/users/:id',
    {
      config: { permissions: ['users-manage'] },
      schema: { summary: 'Update a local user', tags: ['users'], params: Params, body: UserIn, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) } },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const body = request.body as UserBody;
      const principal = principalOf(request);
      const before = await updateUser(db, id, body, clock.now());
      const after = await getUser(db, id);
      // New roles or a disabled account must bite now, not when the current token expires.
      if (after.disabled !== before.disabled || JSON.stringify(after.roles) !== JSON.stringify(before.roles)) await app.tokens.revokePrincipal('user', id);
      await recordAuditEvent(db, {
        type: 'user_updated',
        outcome: 'success',
        principal,
        objectType: 'user',
        objectId: id,
        details: { before: { username: before.username, disabled: before.disabled, roles: before.roles }, after: { username: after.username, disabled: after.disabled, roles: after.roles } },
        at: clock.now(),
      });
      return {};
    },
  );

  app.put(
    '/users/:id/password',
    {
      config: { permissions: ['users-manage'] },
      schema: {
        summary: "Set a local user's password",
        tags: ['users'],
        params: Params,
        body: Type.Object({ password: Password }, { additionalProperties: false }),
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      await setUserPassword(db, id, (request.body as { password: string }).password, clock.now());
      await app.tokens.revokePrincipal('user', id);
      await recordAuditEvent(db, { type: 'user_password_set', outcome: 'success', principal: principalOf(request), objectType: 'user', objectId: id, at: clock.now() });
      return {};
    },
  );

  app.delete(
    '/users/:id',
    {
      config: { permissions: ['users-manage'] },
      schema: { summary: 'Delete a local user', tags: ['users'], params: Params, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const before = await deleteUser(db, id);
      await app.tokens.revokePrincipal('user', id);
      await recordAuditEvent(db, { type: 'user_deleted', outcome: 'success', principal: principalOf(request), objectType: 'user', objectId: id, details: { username: before.username }, at: clock.now() });
      return {};
    },
  );
}
