import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { isUniqueViolation } from '../../db/index.js';
import { duplicate, invalid, notFound, PrivxError } from '../../errors.js';
import { timestamp } from '../../lib/time.js';
import { PERMISSIONS, isPermission, type Permission } from '../../access.js';
import { ADMIN_ROLE_ID, ADMIN_ROLE_NAME, USER_ROLE_ID, USER_ROLE_NAME } from './permissions.js';

export interface Role {
  id: string;
  name: string;
  comment: string;
  permissions: Permission[];
  system: boolean;
  created: string;
  updated: string;
  author: string;
}

export type MemberType = 'user' | 'api-client';

export interface RoleRef {
  id: string;
  name: string;
}

type RoleRow = Tables['roles'];

function toRole(row: RoleRow): Role {
  return {
    id: row.id,
    name: row.name,
    comment: row.description,
    permissions: (JSON.parse(row.permissions) as string[]).filter(isPermission),
    system: row.builtin === 1,
    created: row.created,
    updated: row.updated,
    author: row.author,
  };
}

/** Rejects anything not on the closed permission list, naming the offending entry. */
export function validatePermissions(permissions: readonly string[]): Permission[] {
  const seen = new Set<Permission>();
  permissions.forEach((permission, index) => {
    if (!isPermission(permission)) throw invalid('INVALID_REQUEST_DATA', `unknown permission "${permission}"`, `permissions[${index}]`);
    seen.add(permission);
  });
  return [...seen];
}

/** Creates the built-in roles, and keeps privx-admin holding every permission as the list grows. */
export async function ensureBuiltinRoles(db: Kysely<Tables>, now: Date): Promise<void> {
  const at = timestamp(now);
  for (const [id, name, permissions, description] of [
    [ADMIN_ROLE_ID, ADMIN_ROLE_NAME, PERMISSIONS, 'Built-in administrator role with every permission'],
    [USER_ROLE_ID, USER_ROLE_NAME, [], 'Built-in role of ordinary users'],
  ] as const) {
    await db
      .insertInto('roles')
      .values({ id, name, description, permissions: JSON.stringify(permissions), builtin: 1, created: at, updated: at, author: 'system' })
      .onConflict((conflict) => conflict.column('id').doNothing())
      .execute();
  }
  await db.updateTable('roles').set({ permissions: JSON.stringify(PERMISSIONS) }).where('id', '=', ADMIN_ROLE_ID).execute();
}

export async function listRoles(db: Kysely<Tables>): Promise<Role[]> {
  const rows = await db.selectFrom('roles').selectAll().orderBy('name').execute();
  return rows.map(toRole);
}

export async function getRole(db: Kysely<Tables>, id: string): Promise<Role> {
  const row = await db.selectFrom('roles').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound('role');
  return toRole(row);
}

export interface RoleInput {
  name: string;
  comment?: string | undefined;
  permissions: string[];
}

export async function createRole(db: Kysely<Tables>, input: RoleInput, author: string, now: Date): Promise<string> {
  const permissions = validatePermissions(input.permissions);
  const id = crypto.randomUUID();
  const at = timestamp(now);
  try {
    await db
      .insertInto('roles')
      .values({ id, name: input.name, description: input.comment ?? '', permissions: JSON.stringify(permissions), builtin: 0, created: at, updated: at, author })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('name', `role name "${input.name}" is taken`);
    throw error;
  }
  return id;
}

/** Updates a role; privx-admin keeps its name and every permission. Returns the old role. */
export async function updateRole(db: Kysely<Tables>, id: string, input: RoleInput, now: Date): Promise<Role> {
  const permissions = validatePermissions(input.permissions);
  const existing = await getRole(db, id);
  if (existing.id === ADMIN_ROLE_ID && (input.name !== ADMIN_ROLE_NAME || permissions.length !== PERMISSIONS.length)) {
    throw new PrivxError(400, 'INVALID_REQUEST_DATA', 'privx-admin cannot be renamed or lose permissions', { property: 'permissions' });
  }
  if (existing.system && input.name !== existing.name) throw invalid('INVALID_REQUEST_DATA', 'a built-in role cannot be renamed', 'name');
  try {
    await db
      .updateTable('roles')
      .set({ name: input.name, description: input.comment ?? existing.comment, permissions: JSON.stringify(permissions), updated: timestamp(now) })
      .where('id', '=', id)
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('name', `role name "${input.name}" is taken`);
    throw error;
  }
  return existing;
}

export async function deleteRole(db: Kysely<Tables>, id: string): Promise<Role> {
  const existing = await getRole(db, id);
  if (existing.system) throw new PrivxError(400, 'INVALID_REQUEST_DATA', `built-in role ${existing.name} cannot be deleted`, { property: 'id' });
  await db.deleteFrom('roles').where('id', '=', id).execute();
  return existing;
}

/** The roles a principal holds, by name order. */
export async function rolesOf(db: Kysely<Tables>, type: MemberType, principalId: string): Promise<Role[]> {
  const rows = await db
    .selectFrom('role_members')
    .innerJoin('roles', 'roles.id', 'role_members.role_id')
    .selectAll('roles')
    .where('role_members.principal_type', '=', type)
    .where('role_members.principal_id', '=', principalId)
    .orderBy('roles.name')
    .execute();
  return rows.map(toRole);
}

/** Roles of many principals at once (list endpoints), keyed by principal id. */
export async function roleRefsOf(db: Kysely<Tables>, type: MemberType, principalIds: readonly string[]): Promise<Map<string, RoleRef[]>> {
  const result = new Map<string, RoleRef[]>(principalIds.map((id) => [id, []]));
  if (principalIds.length === 0) return result;
  const rows = await db
    .selectFrom('role_members')
    .innerJoin('roles', 'roles.id', 'role_members.role_id')
    .select(['role_members.principal_id as principal_id', 'roles.id as id', 'roles.name as name'])
    .where('role_members.principal_type', '=', type)
    .where('role_members.principal_id', 'in', principalIds)
    .orderBy('roles.name')
    .execute();
  for (const row of rows) result.get(row.principal_id)?.push({ id: row.id, name: row.name });
  return result;
}

/**
 * The roles named by `roleIds` (duplicates collapsed, in first-mention order); 400 naming the
 * first unknown id as `roles[i].id`.
 */
export async function rolesByIds(db: Kysely<Tables>, roleIds: readonly string[]): Promise<Role[]> {
  const unique = [...new Set(roleIds)];
  if (unique.length === 0) return [];
  const rows = await db.selectFrom('roles').selectAll().where('id', 'in', unique).execute();
  const byId = new Map(rows.map((row) => [row.id, toRole(row)]));
  const index = roleIds.findIndex((id) => !byId.has(id));
  if (index >= 0) throw invalid('INVALID_REQUEST_DATA', `unknown role id "${roleIds[index]}"`, `roles[${index}].id`);
  return unique.map((id) => byId.get(id) as Role);
}

/** The id and name of each existing role among `names` (unknown names are left out). */
export async function roleRefsByNames(db: Kysely<Tables>, names: readonly string[]): Promise<RoleRef[]> {
  return db.selectFrom('roles').select(['id', 'name']).where('name', 'in', names).execute();
}

/**
 * Takes the write lock on the privx-admin role row (a no-op update: a row lock on PostgreSQL, the
 * write lock on SQLite) so transactions that may take privx-admin away run one after another.
 */
export async function lockAdminRole(db: Kysely<Tables>): Promise<void> {
  await db.updateTable('roles').set((eb) => ({ updated: eb.ref('updated') })).where('id', '=', ADMIN_ROLE_ID).execute();
}

/** Enabled users plus API clients (which cannot be disabled) holding privx-admin. */
export async function countEnabledAdmins(db: Kysely<Tables>): Promise<number> {
  const users = await db
    .selectFrom('role_members')
    .innerJoin('users', 'users.id', 'role_members.principal_id')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('role_members.role_id', '=', ADMIN_ROLE_ID)
    .where('role_members.principal_type', '=', 'user')
    .where('users.disabled', '=', 0)
    .executeTakeFirstOrThrow();
  const clients = await db
    .selectFrom('role_members')
    .innerJoin('api_clients', 'api_clients.id', 'role_members.principal_id')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('role_members.role_id', '=', ADMIN_ROLE_ID)
    .where('role_members.principal_type', '=', 'api-client')
    .executeTakeFirstOrThrow();
  return Number(users.n) + Number(clients.n);
}

/**
 * Sets exactly these roles on a principal. Every id must name an existing role; a ref's name is
 * informative only (clients send `{id, name}` pairs).
 */
export async function setRoles(db: Kysely<Tables>, type: MemberType, principalId: string, roleIds: readonly string[], now: Date): Promise<void> {
  const unique = [...new Set(roleIds)];
  if (unique.length > 0) {
    const found = await db.selectFrom('roles').select('id').where('id', 'in', unique).execute();
    const known = new Set(found.map((row) => row.id));
    const index = unique.findIndex((id) => !known.has(id));
    if (index >= 0) throw invalid('INVALID_REQUEST_DATA', `unknown role id "${unique[index]}"`, `roles[${index}].id`);
  }
  await db.deleteFrom('role_members').where('principal_type', '=', type).where('principal_id', '=', principalId).execute();
  if (unique.length > 0) {
    await db
      .insertInto('role_members')
      .values(unique.map((roleId) => ({ role_id: roleId, principal_type: type, principal_id: principalId, created: timestamp(now) })))
      .execute();
  }
}

export interface RoleMember {
  id: string;
  type: MemberType;
  name: string;
}

export async function membersOf(db: Kysely<Tables>, roleId: string): Promise<RoleMember[]> {
  await getRole(db, roleId);
  const users = await db
    .selectFrom('role_members')
    .innerJoin('users', 'users.id', 'role_members.principal_id')
    .select(['users.id as id', 'users.username as name'])
    .where('role_members.role_id', '=', roleId)
    .where('role_members.principal_type', '=', 'user')
    .execute();
  const clients = await db
    .selectFrom('role_members')
    .innerJoin('api_clients', 'api_clients.id', 'role_members.principal_id')
    .select(['api_clients.id as id', 'api_clients.name as name'])
    .where('role_members.role_id', '=', roleId)
    .where('role_members.principal_type', '=', 'api-client')
    .execute();
  return [
    ...users.map((row) => ({ id: row.id, name: row.name, type: 'user' as const })),
    ...clients.map((row) => ({ id: row.id, name: row.name, type: 'api-client' as const })),
  ].sort((a, b) => a.name.localeCompare(b.name));
}

/** Adds one member; false when it already was one. The principal must exist. */
export async function addMember(db: Kysely<Tables>, roleId: string, type: MemberType, principalId: string, now: Date): Promise<boolean> {
  await getRole(db, roleId);
  const table = type === 'user' ? 'users' : 'api_clients';
  const exists = await db.selectFrom(table).select('id').where('id', '=', principalId).executeTakeFirst();
  if (!exists) throw notFound(type === 'user' ? 'user' : 'API client', 'principal_id');
  const result = await db
    .insertInto('role_members')
    .values({ role_id: roleId, principal_type: type, principal_id: principalId, created: timestamp(now) })
    .onConflict((conflict) => conflict.columns(['role_id', 'principal_type', 'principal_id']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function removeMember(db: Kysely<Tables>, roleId: string, principalId: string): Promise<MemberType> {
  const row = await db
    .selectFrom('role_members')
    .select('principal_type')
    .where('role_id', '=', roleId)
    .where('principal_id', '=', principalId)
    .executeTakeFirst();
  if (!row) throw notFound('role member');
  await db.deleteFrom('role_members').where('role_id', '=', roleId).where('principal_id', '=', principalId).execute();
  return row.principal_type;
}
