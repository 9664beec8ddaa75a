import { Type } from '@sinclair/typebox';
import { PERMISSIONS } from '../../access.js';
import { errorResponses, ListResponse } from '../../schemas.js';
import type { TypedApp } from '../typed-app.js';

/** The built-in roles. (The permission strings themselves live in src/access.ts.) */
export const ADMIN_ROLE_NAME = 'privx-admin';
export const USER_ROLE_NAME = 'privx-user';
/** Fixed ids so every node and every installation agrees on the built-in roles. */
export const ADMIN_ROLE_ID = '00000000-0000-4000-8000-000000000001';
export const USER_ROLE_ID = '00000000-0000-4000-8000-000000000002';

/** `GET /role-store/api/v1/permissions`: the list in access.ts, for clients building role editors. */
export function registerPermissionRoutes(app: TypedApp): void {
  app.get(
    '/permissions',
    {
      config: { permissions: ['roles-view', 'roles-manage'] },
      schema: { summary: 'The permission strings a role may hold', tags: ['roles'], response: { 200: ListResponse(Type.String()), ...errorResponses(401, 403) } },
    },
    async () => ({ count: PERMISSIONS.length, items: [...PERMISSIONS] }),
  );
}
