import crypto from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { isUniqueViolation } from '../../db/index.js';
import { duplicate, invalid, notFound, PrivxError } from '../../errors.js';
import { limitFromJson } from '../../lib/contextual-limit.js';
import { timestamp } from '../../lib/time.js';
import { PERMISSIONS, isPermission, type Permission } from '../../access.js';
import { ADMIN_ROLE_ID, ADMIN_ROLE_NAME, USER_ROLE_ID, USER_ROLE_NAME } from './permissions.js';
import { DEFAULT_SOURCE_RULES, roleFieldsOf, type RoleFields, type RoleInput, type SourceRule, type ValidityPeriod } from './role-input.js';

/** A role as stored (what token issue and the grant rule read). */
export interface Role extends Omit<RoleFields, 'permissions'> {
  id: string;
  permissions: Permission[];
  system: boolean;
  created: string;
  updated: string;
  author: string;
  updated_by: string;
}

/** A role as the API returns it: the stored role plus its members and principal keys. */
export interface RoleView extends Omit<Role, 'grant_type' | 'grant_start' | 'grant_end'> {
  /** Left out when empty, as PrivX does (timestamps are never empty strings on the wire). */
  grant_type?: string;
  grant_start?: string;
  grant_end?: string;
  explicit: boolean;
  implicit: boolean;
  updatedby: string;
  owner_src: string;
  principal_public_key_strings: string[];
  member_count: number;
  explicit_count: number;
}

export type MemberType = 'user' | 'api-client';

export interface RoleRef {
  id: string;
  name: string;
}

type RoleRow = Selectable<Tables['roles']>;

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export function toRole(row: RoleRow): Role {
  return {
    id: row.id,
    name: row.name,
    comment: row.description,
    permissions: (JSON.parse(row.permissions) as string[]).filter(isPermission),
    system: row.builtin === 1,
    created: row.created,
    updated: row.updated,
    author: row.author,
    updated_by: row.updated_by,
    access_group_id: row.access_group_id,
    source_rules: parseJson<SourceRule>(row.source_rules, { ...DEFAULT_SOURCE_RULES, rules: [] }),
    context: limitFromJson(row.context),
    permit_agent: row.permit_agent === 1,
    tags: parseJson<string[]>(row.tags, []),
    grant_type: row.grant_type,
    grant_start: row.grant_start,
    grant_end: row.grant_end,
    grant_validity_periods: parseJson<ValidityPeriod[]>(row.grant_validity_periods, []),
    floating_length: Number(row.floating_length),
  };
}

/** The columns a role's fields are stored in (permissions validated by the caller). */
function columnsOf(fields: RoleFields) {
  return {
    name: fields.name,
    description: fields.comment,
    permissions: JSON.stringify(fields.permissions),
    access_group_id: fields.access_group_id,
    source_rules: JSON.stringify(fields.source_rules),
    context: JSON.stringify(fields.context),
    permit_agent: fields.permit_agent ? 1 : 0,
    tags: JSON.stringify(fields.tags),
    grant_type: fields.grant_type,
    grant_start: fields.grant_start,
    grant_end: fields.grant_end,
    grant_validity_periods: JSON.stringify(fields.grant_validity_periods),
    floating_length: fields.floating_length,
  };
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

/** Member counts and principal public keys of these roles, for the API view. */
async function viewsOf(db: Kysely<Tables>, roles: readonly Role[]): Promise<RoleView[]> {
  if (roles.length === 0) return [];
  const ids = roles.map((role) => role.id);
  const counts = await db
    .selectFrom('role_members')
    .select(['role_id', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('role_id', 'in', ids)
    .groupBy('role_id')
    .execute();
  const keys = await db.selectFrom('role_principal_keys').select(['role_id', 'public_key']).where('role_id', 'in', ids).orderBy('created').orderBy('id').execute();
  const countOf = new Map(counts.map((row) => [row.role_id, Number(row.n)]));
  return roles.map(({ grant_type, grant_start, grant_end, ...role }) => {
    const members = countOf.get(role.id) ?? 0;
    return {
      ...role,
      ...(grant_type === '' ? {} : { grant_type }),
      ...(grant_start === '' ? {} : { grant_start }),
      ...(grant_end === '' ? {} : { grant_end }),
      // privgate's members are all explicit (added to the role); source rules are stored, not evaluated.
      explicit: true,
      implicit: false,
      updatedby: role.updated_by,
      owner_src: '',
      principal_public_key_strings: keys.filter((key) => key.role_id === role.id).map((key) => key.public_key),
      member_count: members,
      explicit_count: members,
    };
  });
}

export interface RolePage {
  offset: number;
  limit: number | undefined;
  sortkey: 'name' | 'id' | 'created' | 'updated';
  descending: boolean;
}

export const DEFAULT_ROLE_PAGE: RolePage = { offset: 0, limit: undefined, sortkey: 'name', descending: false };

export interface RoleFilter {
  /** Exact names, any of (empty = no filter). */
  names?: readonly string[];
  /** Case-insensitive substring of the name or comment. */
  keywords?: string;
}

/** One page of roles (`count` is the total matching). */
export async function listRoles(db: Kysely<Tables>, page: RolePage = DEFAULT_ROLE_PAGE, filter: RoleFilter = {}): Promise<{ count: number; items: RoleView[] }> {
  let query = db.selectFrom('roles');
  if (filter.names && filter.names.length > 0) query = query.where('name', 'in', [...filter.names]);
  if (filter.keywords) {
    const pattern = `%${filter.keywords.toLowerCase().replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
    query = query.where((eb) => eb.or([eb(eb.fn('lower', ['name']), 'like', sql<string>`${pattern} escape '\\'`), eb(eb.fn('lower', ['description']), 'like', sql<string>`${pattern} escape '\\'`)]));
  }
  const total = await query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
  let rows = query.selectAll().orderBy(page.sortkey, page.descending ? 'desc' : 'asc').orderBy('id');
  // SQLite takes OFFSET only after a LIMIT.
  if (page.limit !== undefined || page.offset > 0) rows = rows.limit(page.limit ?? 1_000_000_000);
  if (page.offset > 0) rows = rows.offset(page.offset);
  return { count: Number(total.n), items: await viewsOf(db, (await rows.execute()).map(toRole)) };
}

/** Roles named exactly `names`, as `{id, name}` (unknown names left out), by name. */
export async function resolveRoleNames(db: Kysely<Tables>, names: readonly string[]): Promise<RoleRef[]> {
  if (names.length === 0) return [];
  return db.selectFrom('roles').select(['id', 'name']).where('name', 'in', [...new Set(names)]).orderBy('name').execute();
}

export async function getRole(db: Kysely<Tables>, id: string): Promise<Role> {
  const row = await db.selectFrom('roles').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound('role');
  return toRole(row);
}

export async function getRoleView(db: Kysely<Tables>, id: string): Promise<RoleView> {
  const [view] = await viewsOf(db, [await getRole(db, id)]);
  return view!;
}

export async function createRole(db: Kysely<Tables>, input: RoleInput, author: string, now: Date): Promise<string> {
  const fields = roleFieldsOf(input);
  const id = crypto.randomUUID();
  const at = timestamp(now);
  try {
    await db
      .insertInto('roles')
      .values({ id, ...columnsOf(fields), builtin: 0, created: at, updated: at, author, updated_by: author })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('name', `role name "${input.name}" is taken`);
    throw error;
  }
  return id;
}

/**
 * Updates a role; privx-admin keeps its name and every permission, and has no contextual limit
 * (it must not lock the administrators out). Returns the old role.
 */
export async function updateRole(db: Kysely<Tables>, id: string, input: RoleInput, actor: string, now: Date): Promise<Role> {
  const fields = roleFieldsOf(input);
  const existing = await getRole(db, id);
  if (existing.id === ADMIN_ROLE_ID && (input.name !== ADMIN_ROLE_NAME || fields.permissions.length !== PERMISSIONS.length)) {
    throw new PrivxError(400, 'INVALID_REQUEST_DATA', 'privx-admin cannot be renamed or lose permissions', { property: 'permissions' });
  }
  if (existing.id === ADMIN_ROLE_ID && fields.context.enabled) {
    throw new PrivxError(400, 'INVALID_REQUEST_DATA', 'privx-admin cannot have a contextual limit (it could lock every administrator out)', { property: 'context.enabled' });
  }
  if (existing.system && input.name !== existing.name) throw invalid('INVALID_REQUEST_DATA', 'a built-in role cannot be renamed', 'name');
  try {
    await db
      .updateTable('roles')
      .set({ ...columnsOf(fields), updated: timestamp(now), updated_by: actor })
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
  await db.deleteFrom('role_principal_keys').where('role_id', '=', id).execute();
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
  /** The SDK reads members as Users: `principal` is the user name (an API client's name). */
  principal: string;
}

export interface MemberPage {
  offset: number;
  limit: number | undefined;
  sortkey: 'name' | 'id' | 'type';
  descending: boolean;
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
    ...users.map((row) => ({ id: row.id, name: row.name, principal: row.name, type: 'user' as const })),
    ...clients.map((row) => ({ id: row.id, name: row.name, principal: row.name, type: 'api-client' as const })),
  ].sort((a, b) => a.name.localeCompare(b.name));
}

/** One page of a role's members (`count` is all of them). Roles have few members: sorted here. */
export async function memberPageOf(db: Kysely<Tables>, roleId: string, page: MemberPage): Promise<{ count: number; items: RoleMember[] }> {
  const members = await membersOf(db, roleId);
  const key = page.sortkey;
  const sorted = [...members].sort((a, b) => {
    const order = a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    return page.descending ? -order : order;
  });
  const end = page.limit === undefined ? undefined : page.offset + page.limit;
  return { count: members.length, items: sorted.slice(page.offset, end) };
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
