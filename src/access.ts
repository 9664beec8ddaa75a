/**
 * Who may do what: the closed list of permissions, the scopes a route may require, and the
 * principal a verified access token speaks for. Shared by the plugins (authentication, the route
 * permission check) and every service, so it imports neither.
 */

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

export type PrincipalType = 'user' | 'api-client' | 'trusted-client';

/** Who a verified access token speaks for, as read from its claims. */
export interface Principal {
  type: PrincipalType;
  id: string;
  name: string;
  roles: ReadonlyArray<{ id: string; name: string }>;
  permissions: ReadonlySet<Permission>;
  /** Holds the privx-admin role. */
  admin: boolean;
  jti: string;
  issuedAt: Date;
  expiresAt: Date;
}

/** Whether `principal` satisfies any of `scopes`. */
export function hasAnyScope(principal: Principal, scopes: readonly Scope[]): boolean {
  for (const scope of scopes) {
    if (scope === 'user') return true;
    if (scope === 'admin') {
      if (principal.admin) return true;
    } else if (scope === 'service') {
      if (principal.type === 'trusted-client') return true;
    } else if (principal.admin || principal.permissions.has(scope)) {
      return true;
    }
  }
  return false;
}
