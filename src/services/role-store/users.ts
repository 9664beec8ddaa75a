import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, ListResponse, NullableArray, PagingQuery, SortKey } from '../../schemas.js';
import { USER_SORT_KEYS } from '../local-user-store/repository.js';
import { setUserRolesAs, type UseCaseDeps } from './use-cases.js';
import { roleStoreUser, searchRoleStoreUsers, userRoles } from './user-view.js';
import type { TypedApp } from '../typed-app.js';

const Params = Type.Object({ id: IdParam });

const UserRoleOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  comment: Type.String(),
  permissions: Type.Array(Type.String()),
  system: Type.Boolean(),
  explicit: Type.Boolean(),
  implicit: Type.Boolean(),
});

/** The SDK's rolestore.User, as far as privgate knows it (local users). */
const RoleStoreUserOut = Type.Object({
  id: Type.String(),
  principal: Type.String(),
  source: Type.String(),
  source_type: Type.String(),
  comment: Type.String(),
  tags: Type.Array(Type.String()),
  roles: Type.Array(UserRoleOut),
  attributes: Type.Array(Type.Object({ key: Type.String(), value: Type.String() })),
  permissions: Type.Array(Type.String()),
  first_name: Type.String(),
  last_name: Type.String(),
  full_name: Type.String(),
  job_title: Type.String(),
  company: Type.String(),
  department: Type.String(),
  email: Type.String(),
  telephone: Type.String(),
  locale: Type.String(),
  windows_account: Type.String(),
  unix_account: Type.String(),
  created: Type.String(),
  updated: Type.String(),
  updatedby: Type.String(),
  author: Type.String(),
});

/** A role of the PUT body: the SDKs send whole Role objects (Go) or `{id, name}`; only the id counts. */
const RoleRefIn = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: true });

/** The SDK's rolestore.UserSearch. */
const UserSearchBody = Type.Object(
  {
    keywords: Type.Optional(Type.String({ maxLength: 1000 })),
    source: Type.Optional(Type.String({ maxLength: 200 })),
    user_id: Type.Optional(NullableArray(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 1000 })),
  },
  { additionalProperties: true },
);

const SearchQuery = Type.Object({
  ...PagingQuery,
  sortkey: SortKey(USER_SORT_KEYS),
});

/** `/role-store/api/v1/users/…`: users as the role store sees them, and their roles (the PrivX way to assign roles). */
export function registerRoleStoreUserRoutes(app: TypedApp, deps: UseCaseDeps): void {
  const { db } = deps;

  app.post(
    '/users/search',
    {
      config: { permissions: ['users-view', 'users-manage'] },
      schema: {
        summary: 'Search users: every keyword (space or comma separated, at most 20) must occur in the username, a name or the email; `user_id` narrows to those ids',
        tags: ['users'],
        querystring: SearchQuery,
        body: Type.Union([UserSearchBody, Type.Null()]),
        response: { 200: ListResponse(RoleStoreUserOut), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const query = request.query;
      return searchRoleStoreUsers(db, request.body ?? {}, {
        offset: query.offset ?? 0,
        limit: query.limit ?? 50,
        sortkey: query.sortkey ?? 'username',
        descending: query.sortdir?.toLowerCase() === 'desc',
      });
    },
  );

  app.get(
    '/users/:id',
    {
      config: { permissions: ['users-view', 'users-manage'] },
      schema: { summary: 'A user with its roles and effective permissions', tags: ['users'], params: Params, response: { 200: RoleStoreUserOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => roleStoreUser(db, request.params.id),
  );

  app.get(
    '/users/:id/resolve',
    {
      config: { permissions: ['users-view', 'users-manage'] },
      schema: {
        summary: "A user with its roles resolved (privgate has no mapped roles: the same as GET /users/{id})",
        tags: ['users'],
        params: Params,
        response: { 200: RoleStoreUserOut, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => roleStoreUser(db, request.params.id),
  );

  app.get(
    '/users/:id/roles',
    {
      config: { permissions: ['users-view', 'users-manage', 'roles-view', 'roles-manage'] },
      schema: { summary: "A user's roles", tags: ['users'], params: Params, response: { 200: ListResponse(UserRoleOut), ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      const roles = await userRoles(db, request.params.id);
      return { count: roles.length, items: roles };
    },
  );

  app.put(
    '/users/:id/roles',
    {
      config: { permissions: ['users-manage', 'roles-manage'] },
      schema: {
        summary: "Replace a user's roles (needs every permission the user holds and of each role it gets; privx-admin keeps an enabled holder, else 409)",
        tags: ['users'],
        params: Params,
        body: NullableArray(RoleRefIn, { maxItems: 200 }),
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      await setUserRolesAs(deps, principalOf(request), request.params.id, (request.body ?? []).map((role) => role.id));
      return {};
    },
  );
}
