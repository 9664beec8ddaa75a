import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, IdResponse, ListResponse, PagingQuery } from '../../schemas.js';
import { getUser, listUserTags, listUsers } from './repository.js';
import { Password } from './schemas.js';
import { UserBody, UserListQuery, UserOut, userInputOf } from './user-schemas.js';
import { createUserAs, deleteUserAs, setUserPasswordAs, updateUserAs, type LocalUserStoreDeps } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

const Params = Type.Object({ id: IdParam });

/** `/local-user-store/api/v1/users`: local users; passwords only as scrypt hashes. */
export function registerUserRoutes(app: TypedApp): void {
  const { database, clock, secretKey } = app.context;
  const db = database.db;
  const deps: LocalUserStoreDeps = { db, clock, secretKey, tokens: app.tokens };

  app.get(
    '/users',
    {
      config: { permissions: ['users-view', 'users-manage'] },
      schema: {
        summary: 'List local users (`id` and `username` filter exactly; count is of the filtered list)',
        tags: ['users'],
        querystring: UserListQuery,
        response: { 200: ListResponse(UserOut), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const query = request.query;
      return listUsers(
        db,
        { ids: query.id === undefined ? undefined : [query.id], username: query.username },
        { offset: query.offset ?? 0, limit: query.limit ?? 50, sortkey: query.sortkey ?? 'username', descending: query.sortdir?.toLowerCase() === 'desc' },
      );
    },
  );

  app.get(
    '/users/tags',
    {
      config: { permissions: ['users-view', 'users-manage'] },
      schema: {
        summary: 'The tags of local users, sorted (`query` keeps those containing it)',
        tags: ['users'],
        querystring: Type.Object({ ...PagingQuery, query: Type.Optional(Type.String({ maxLength: 200 })) }),
        response: { 200: ListResponse(Type.String()), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const query = request.query;
      return listUserTags(db, query.query || undefined, query.offset ?? 0, query.limit ?? 50, query.sortdir?.toLowerCase() === 'desc');
    },
  );

  app.post(
    '/users',
    {
      config: { permissions: ['users-manage'] },
      schema: { summary: 'Create a local user (needs every permission of each role it gets)', tags: ['users'], body: UserBody, response: { 201: IdResponse, ...errorResponses(400, 401, 403, 409) } },
    },
    async (request, reply) => {
      const id = await createUserAs(deps, principalOf(request), userInputOf(request.body));
      return reply.code(201).send({ id });
    },
  );

  app.get(
    '/users/:id',
    {
      config: { permissions: ['users-view', 'users-manage'] },
      schema: { summary: 'Get a local user', tags: ['users'], params: Params, response: { 200: UserOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => getUser(db, request.params.id),
  );

  app.put(
    '/users/:id',
    {
      config: { permissions: ['users-manage'] },
      schema: { summary: 'Update a local user: the profile is replaced, read-only fields are ignored (needs every permission the user holds and each role it gets; privx-admin keeps an enabled holder, else 409)', tags: ['users'], params: Params, body: UserBody, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) } },
    },
    async (request) => {
      await updateUserAs(deps, principalOf(request), request.params.id, userInputOf(request.body));
      return {};
    },
  );

  app.put(
    '/users/:id/password',
    {
      config: { permissions: ['users-manage'] },
      schema: {
        summary: "Set a local user's password (needs every permission the user holds)",
        tags: ['users'],
        params: Params,
        body: Type.Object({ password: Password }, { additionalProperties: false }),
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await setUserPasswordAs(deps, principalOf(request), request.params.id, request.body.password);
      return {};
    },
  );

  app.delete(
    '/users/:id',
    {
      config: { permissions: ['users-manage'] },
      schema: { summary: 'Delete a local user (needs every permission the user holds; privx-admin keeps an enabled holder, else 409)', tags: ['users'], params: Params, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) } },
    },
    async (request) => {
      await deleteUserAs(deps, principalOf(request), request.params.id);
      return {};
    },
  );
}
