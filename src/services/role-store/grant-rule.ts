import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { PrivxError } from '../../errors.js';
import { type Principal, isPermission, type Permission } from '../../access.js';
import { ADMIN_ROLE_ID, ADMIN_ROLE_NAME } from './permissions.js';
import { countEnabledAdmins, lockAdminRole } from './repository.js';

/**
 * "Nobody grants what they do not hold." The one rule every path that hands out permissions or
 * touches an account uses (users, API clients, trusted clients, role permissions and members):
 *
 * - an actor may grant a role only if it holds every permission of that role;
 * - an actor may change the credentials, roles or state of an account (including deleting it) only
 *   if it holds every permission that account holds;
 * - privx-admin is more than its permissions (it is the `admin` scope too): granting it, or touching
 *   an account that holds it, needs privx-admin; privx-admin passes every check.
 *
 * What the actor holds is what its access token says (roles and permissions as of issue). Tokens
 * are revoked whenever a principal's roles or a role's permissions change, so that set is current
 * (within the revocation propagation bound on other nodes).
 */

/** What an actor, an account or a role holds. */
export interface Holding {
  /** privx-admin: every permission and the `admin` scope. */
  admin: boolean;
  permissions: Iterable<Permission>;
}

/** The actor side: a request's principal (only what it holds matters). */
export type Actor = Pick<Principal, 'admin' | 'permissions'>;

/** What a set of roles holds together. Unknown permission strings count for nothing. */
export function holdingOfRoles(roles: ReadonlyArray<{ id: string; permissions: readonly string[] }>): Holding {
  const permissions = new Set<Permission>();
  let admin = false;
  for (const role of roles) {
    if (role.id === ADMIN_ROLE_ID) admin = true;
    for (const permission of role.permissions) if (isPermission(permission)) permissions.add(permission);
  }
  return { admin, permissions };
}

/** What `actor` lacks of `needed`, sorted; privx-admin lacks nothing, and only privx-admin has privx-admin. */
export function missingFrom(actor: Actor, needed: Holding): string[] {
  if (actor.admin) return [];
  // privx-admin subsumes every permission: naming it alone says what is needed.
  if (needed.admin) return [ADMIN_ROLE_NAME];
  const missing = new Set<string>();
  for (const permission of needed.permissions) if (!actor.permissions.has(permission)) missing.add(permission);
  return [...missing].sort();
}

/** The 403 of a grant-rule refusal. Names only permission names (a public list) and what the caller sent. */
export function grantRefused(what: string, missing: readonly string[], property?: string): PrivxError {
  return new PrivxError(403, 'PERMISSION_DENIED', `${what} needs what the caller does not hold: ${missing.join(', ')}`, property ? { property } : {});
}

/**
 * Refuses (403 PERMISSION_DENIED) unless `actor` holds every permission of every role in `roles`.
 * `property` names where the role came from in the request (e.g. `roles` → `roles[1].id`).
 */
export function assertMayGrantRoles(actor: Actor, roles: ReadonlyArray<{ id: string; permissions: readonly string[] }>, property?: (index: number) => string): void {
  roles.forEach((role, index) => {
    const missing = missingFrom(actor, holdingOfRoles([role]));
    if (missing.length > 0) throw grantRefused(`granting role ${role.id}`, missing, property?.(index));
  });
}

/** Refuses unless `actor` holds every permission in `permissions` (granting bare permissions: a role's list, a trusted client's). */
export function assertMayGrantPermissions(actor: Actor, what: string, permissions: readonly string[], property?: string): void {
  const missing = missingFrom(actor, { admin: false, permissions: permissions.filter(isPermission) });
  if (missing.length > 0) throw grantRefused(what, missing, property);
}

/** Refuses unless `actor` holds everything `account` holds (to change its credentials, roles or state). */
export function assertMayManage(actor: Actor, what: string, account: Holding): void {
  const missing = missingFrom(actor, account);
  if (missing.length > 0) throw grantRefused(what, missing);
}

/**
 * The last-privx-admin guard, for a transaction that may take privx-admin away from someone
 * (disable, delete, change roles, remove a member). Call {@link lockAdmins} before reading or
 * changing anything, and {@link assertAnAdminRemains} after the change: the lock serialises such
 * transactions, so two of them cannot each remove "the other" last admin.
 */
export async function lockAdmins(trx: Kysely<Tables>): Promise<void> {
  await lockAdminRole(trx);
}

/** 409 CONFLICT (rolled back by the caller's transaction) when no enabled principal holds privx-admin any more. */
export async function assertAnAdminRemains(trx: Kysely<Tables>): Promise<void> {
  if ((await countEnabledAdmins(trx)) === 0) {
    throw new PrivxError(409, 'CONFLICT', 'the installation must keep at least one enabled principal holding privx-admin');
  }
}
