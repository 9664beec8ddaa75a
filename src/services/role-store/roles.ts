import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdResponse, ListResponse } from '../../schemas.js';
import { getRole, listRoles } from './repository.js';
import { RoleIn, RoleOut, RoleParams } from './schemas.js';
import { createRoleAs, deleteRoleAs, updateRoleAs, type UseCaseDeps } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/** `/role-store/api/v1/roles` and `/roles/{id}`: roles and the permissions they hold. */
export function registerRoleRoutes(app: TypedApp, deps: UseCaseDeps): void {
  const { db } = deps;

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
      const body = request.body;
      const id = await createRoleAs(deps, principalOf(request), { ...body, permissions: body.permissions ?? [] });
      return reply.code(201).send({ id });
    },
  );

  app.get(
    '/roles/:id',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: { summary: 'Get a role', tags: ['roles'], params: RoleParams, response: { 200: RoleOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => getRole(db, request.params.id),
  );

  app.put(
    '/roles/:id',
    {
      config: { permissions: ['roles-manage'] },
      schema: { summary: 'Update a role (needs every permission it has before and after)', tags: ['roles'], params: RoleParams, body: RoleIn, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) } },
    },
    async (request) => {
      const { id } = request.params;
      const body = request.body;
      await updateRoleAs(deps, principalOf(request), id, { ...body, permissions: body.permissions ?? [] });
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
