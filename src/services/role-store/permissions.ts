import { Type } from '@sinclair/typebox';
import { errorResponses, ListResponse } from '../../schemas.js';
import type { TypedApp } from '../typed-app.js';

/**
 * The closed list of permission strings a role may hold, as PrivX names them. A role's
 * `permissions` is validated against this list; `privx-admin` holds all of them.
 */
export const PERMISSIONS = [
  'users-view',
  'users-manage',
  'roles-view',
  'roles-manage',
  'hosts-view',
  'hosts-manage',
  'api-clients-manage',
  'settings-view',
  'settings-manage',
  'access-groups-manage',
  'certificates-view',
  'connections-view',
  'connections-manage',
  'logs-view',
  'web-access',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

/**
 * What a route may require, any-of. Besides permissions, the seed API's scopes:
 * `admin` = holds the privx-admin role, `service` = a registered trusted client (a web proxy or
 * another microservice), `user` = any authenticated principal.
 */
export type Scope = Permission | 'admin' | 'service' | 'user';

const PERMISSION_SET: ReadonlySet<string> = new Set(PERMISSIONS);

export function isPermission(value: string): value is Permission {
  return PERMISSION_SET.has(value);
}

export const ADMIN_ROLE_NAME = 'privx-admin';
export const USER_ROLE_NAME = 'privx-user';
/** Fixed ids so every node and every installation agrees on the built-in roles. */
export const ADMIN_ROLE_ID = '00000000-0000-4000-8000-000000000001';
export const USER_ROLE_ID = '00000000-0000-4000-8000-000000000002';

/** `GET /role-store/api/v1/permissions`: the list above, for clients building role editors. */
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
