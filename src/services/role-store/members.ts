import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, ListResponse } from '../../schemas.js';
import { memberPageOf } from './repository.js';
import { MemberOut, MemberPagingQuery, MemberTypeSchema, RoleParams } from './schemas.js';
import { addRoleMemberAs, removeRoleMemberAs, type UseCaseDeps } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/** `/role-store/api/v1/roles/{id}/members`: the users and API clients holding a role. */
export function registerRoleMemberRoutes(app: TypedApp, deps: UseCaseDeps): void {
  const { db } = deps;

  app.get(
    '/roles/:id/members',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: {
        summary: 'Members of a role',
        description: 'Paged by `offset` and `limit` (default: all), sorted by `sortkey` (name, id, type; default name) and `sortdir`; `count` is the total.',
        tags: ['roles'],
        params: RoleParams,
        querystring: MemberPagingQuery,
        response: { 200: ListResponse(MemberOut), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { offset, limit, sortkey, sortdir } = request.query;
      return memberPageOf(db, request.params.id, { offset: offset ?? 0, limit, sortkey: sortkey ?? 'name', descending: sortdir?.toLowerCase() === 'desc' });
    },
  );

  app.post(
    '/roles/:id/members',
    {
      config: { permissions: ['roles-manage'] },
      schema: {
        summary: 'Add a user or API client to a role (needs every permission of the role and of the member)',
        tags: ['roles'],
        params: RoleParams,
        body: Type.Object({ principal_id: IdParam, principal_type: MemberTypeSchema }, { additionalProperties: false }),
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await addRoleMemberAs(deps, principalOf(request), request.params.id, request.body);
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
      const { id, memberId } = request.params;
      await removeRoleMemberAs(deps, principalOf(request), id, memberId);
      return {};
    },
  );
}
