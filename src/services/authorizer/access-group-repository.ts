import { sql, type Kysely } from 'kysely';
import { isUniqueViolation } from '../../db/index.js';
import type { Tables } from '../../db/schema.js';
import { duplicate, notFound } from '../../errors.js';
import { timestamp } from '../../lib/time.js';

/** The default access group: made by migration 0008, always present, never deleted. */
export const DEFAULT_ACCESS_GROUP_ID = '00000000-0000-4000-8000-0000000000a1';

export type AccessGroupRow = Tables['access_groups'];
export type AccessGroupCaRow = Tables['access_group_cas'];

export const ACCESS_GROUP_SORT_KEYS = ['id', 'name', 'created', 'updated'] as const;
export type AccessGroupSortKey = (typeof ACCESS_GROUP_SORT_KEYS)[number];

export interface AccessGroupPage {
  offset: number;
  limit: number;
  sortkey: AccessGroupSortKey;
  descending: boolean;
}

/** The settable columns of a group. */
export interface AccessGroupColumns {
  name: string;
  comment: string;
  host_certificate_trust_anchors: string;
  winrm_host_certificate_trust_anchors: string;
  db_host_certificate_trust_anchors: string;
  key_type: string;
}

/** `%`, `_` and `\` taken literally in a LIKE pattern (escaped with `\`). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

/**
 * Groups, sorted and paged; with `keywords`, only groups whose name or comment contains every
 * whitespace- or comma-separated term (case-insensitive).
 */
export async function listAccessGroups(db: Kysely<Tables>, page: AccessGroupPage, keywords?: string): Promise<{ count: number; items: AccessGroupRow[] }> {
  const terms = (keywords ?? '')
    .toLowerCase()
    .split(/[\s,]+/)
    .filter((term) => term !== '');
  let matching = db.selectFrom('access_groups');
  for (const term of terms) {
    const pattern = `%${likeLiteral(term)}%`;
    matching = matching.where(sql<boolean>`(lower(name) like ${pattern} escape '\\' or lower(comment) like ${pattern} escape '\\')`);
  }
  const direction = page.descending ? 'desc' : 'asc';
  const [total, rows] = await Promise.all([
    matching.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    matching.selectAll().orderBy(page.sortkey, direction).orderBy('id', direction).offset(page.offset).limit(page.limit).execute(),
  ]);
  return { count: Number(total.n), items: rows };
}

export async function findAccessGroup(db: Kysely<Tables>, id: string): Promise<AccessGroupRow | undefined> {
  return db.selectFrom('access_groups').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getAccessGroup(db: Kysely<Tables>, id: string): Promise<AccessGroupRow> {
  const group = await findAccessGroup(db, id);
  if (!group) throw notFound('access group');
  return group;
}

/**
 * Locks a group's row for the rest of the transaction (a no-op write: a row lock on PostgreSQL, the
 * write lock on SQLite) and reads it; undefined when it does not exist. Whatever starts or stops
 * referring to a group locks it first, so a delete and a new reference cannot both succeed.
 */
export async function lockAccessGroup(trx: Kysely<Tables>, id: string): Promise<AccessGroupRow | undefined> {
  const locked = await trx.updateTable('access_groups').set({ updated: sql<string>`updated` }).where('id', '=', id).executeTakeFirst();
  if (Number(locked.numUpdatedRows) === 0) return undefined;
  return findAccessGroup(trx, id);
}

export async function insertAccessGroup(trx: Kysely<Tables>, id: string, columns: AccessGroupColumns, actorId: string, now: Date): Promise<void> {
  const at = timestamp(now);
  try {
    await trx
      .insertInto('access_groups')
      .values({ id, ...columns, primary_ca_id: null, is_default: 0, created: at, updated: at, updated_by: actorId, author: actorId })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('name', `access group name "${columns.name}" is taken`);
    throw error;
  }
}

export async function updateAccessGroupRow(
  trx: Kysely<Tables>,
  id: string,
  columns: AccessGroupColumns & { primary_ca_id: string | null },
  actorId: string,
  now: Date,
): Promise<void> {
  try {
    await trx
      .updateTable('access_groups')
      .set({ ...columns, updated: timestamp(now), updated_by: actorId })
      .where('id', '=', id)
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('name', `access group name "${columns.name}" is taken`);
    throw error;
  }
}

/** Deletes a group (its CAs go with it). */
export async function deleteAccessGroupRow(trx: Kysely<Tables>, id: string): Promise<void> {
  await trx.deleteFrom('access_groups').where('id', '=', id).execute();
}

/**
 * How many objects still refer to a group, per kind (only kinds with references). A role's
 * `access_group_id` joins this list when roles carry one.
 */
export async function accessGroupReferences(db: Kysely<Tables>, id: string): Promise<Record<string, number>> {
  const [hosts, trustedClients, roles] = await Promise.all([
    db.selectFrom('hosts').select((eb) => eb.fn.countAll<number>().as('n')).where('access_group_id', '=', id).executeTakeFirstOrThrow(),
    db.selectFrom('trusted_clients').select((eb) => eb.fn.countAll<number>().as('n')).where('access_group_id', '=', id).executeTakeFirstOrThrow(),
    db.selectFrom('roles').select((eb) => eb.fn.countAll<number>().as('n')).where('access_group_id', '=', id).executeTakeFirstOrThrow(),
  ]);
  const references: Record<string, number> = {};
  if (Number(hosts.n) > 0) references.hosts = Number(hosts.n);
  if (Number(trustedClients.n) > 0) references.trusted_clients = Number(trustedClients.n);
  if (Number(roles.n) > 0) references.roles = Number(roles.n);
  return references;
}

// ─── CAs ────────────────────────────────────────────────────────────────────────────────────

export async function insertAccessGroupCa(trx: Kysely<Tables>, row: AccessGroupCaRow): Promise<void> {
  await trx.insertInto('access_group_cas').values(row).execute();
}

/** Makes `caId` the group's primary CA; `onlyIfNone` only when it has none (the first-start race). Whether it did. */
export async function setPrimaryCa(trx: Kysely<Tables>, groupId: string, caId: string, onlyIfNone: boolean): Promise<boolean> {
  let query = trx.updateTable('access_groups').set({ primary_ca_id: caId }).where('id', '=', groupId);
  if (onlyIfNone) query = query.where('primary_ca_id', 'is', null);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** A group's CAs, oldest first. */
export async function listAccessGroupCas(db: Kysely<Tables>, groupId?: string): Promise<AccessGroupCaRow[]> {
  let query = db.selectFrom('access_group_cas').selectAll();
  if (groupId !== undefined) query = query.where('access_group_id', '=', groupId);
  return query.orderBy('created', 'asc').orderBy('id', 'asc').execute();
}

export async function findAccessGroupCa(db: Kysely<Tables>, id: string): Promise<AccessGroupCaRow | undefined> {
  return db.selectFrom('access_group_cas').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function deleteAccessGroupCaRow(trx: Kysely<Tables>, id: string): Promise<void> {
  await trx.deleteFrom('access_group_cas').where('id', '=', id).execute();
}

/** Ids of groups without a CA yet (the default group before the first start made its CA). */
export async function accessGroupsWithoutCa(db: Kysely<Tables>): Promise<string[]> {
  const rows = await db.selectFrom('access_groups').select('id').where('primary_ca_id', 'is', null).orderBy('id').execute();
  return rows.map((row) => row.id);
}
