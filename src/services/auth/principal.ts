import type { Permission, Scope } from '../role-store/permissions.js';

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
