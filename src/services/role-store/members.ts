import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, ListResponse } from '../../schemas.js';
import { membersOf, type MemberType } from './repository.js';
import { MemberOut, MemberTypeSchema, RoleParams } from './schemas.js';
import { addRoleMemberAs, removeRoleMemberAs, type UseCaseDeps } from './use-cases.js';

/** `/role-store/api/v1/roles/{id}/members`: the users and API clients holding a role. */
export function registerRoleMemberRoutes(app: FastifyInstance, deps: UseCaseDeps): void {
  const { db } = deps;

  app.get(
    '/roles/:id/members',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: { summary: 'Members of a role', tags: ['roles'], params: RoleParams, response: { 200: ListResponse(MemberOut), ...errorResponses(400, 401, 403, 404) } },
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
        params: RoleParams,
        body: Type.Object({ principal_id: IdParam, principal_type: MemberTypeSchema }, { additionalProperties: false }),
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
