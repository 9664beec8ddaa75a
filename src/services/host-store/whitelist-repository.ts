import { sql, type Kysely } from 'kysely';
import { isUniqueViolation } from '../../db/index.js';
import type { Tables } from '../../db/schema.js';
import { duplicate, notFound } from '../../errors.js';
import { timestamp } from '../../lib/time.js';
import type { HostDocument } from './host-document.js';
import type { WhitelistSortKey } from './whitelist-schemas.js';

export type WhitelistRow = Tables['whitelists'];

/** The settable columns of a whitelist (`patterns` as a list; stored as JSON). */
export interface WhitelistColumns {
  name: string;
  comment: string;
  type: string;
  patterns: string[];
}

export interface WhitelistPage {
  offset: number;
  limit: number;
  sortkey: WhitelistSortKey;
  descending: boolean;
}

/** `%`, `_` and `\` taken literally in a LIKE pattern (escaped with `\`). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

/**
 * Whitelists, sorted and paged. With `keywords`: comma-separated alternatives (a whitelist matches
 * any of them), each a whitespace-separated list of terms that must all be case-insensitive
 * substrings of the name or the comment.
 */
export async function listWhitelists(db: Kysely<Tables>, page: WhitelistPage, keywords?: string): Promise<{ count: number; items: WhitelistRow[] }> {
  const alternatives = (keywords ?? '')
    .toLowerCase()
    .split(',')
    .map((alternative) => alternative.split(/\s+/).filter((term) => term !== ''))
    .filter((terms) => terms.length > 0);
  let matching = db.selectFrom('whitelists');
  if (alternatives.length > 0) {
    matching = matching.where((eb) =>
      eb.or(
        alternatives.map((terms) =>
          eb.and(
            terms.map((term) => {
              const pattern = `%${likeLiteral(term)}%`;
              return sql<boolean>`(lower(name) like ${pattern} escape '\\' or lower(comment) like ${pattern} escape '\\')`;
            }),
          ),
        ),
      ),
    );
  }
  const direction = page.descending ? 'desc' : 'asc';
  const [total, rows] = await Promise.all([
    matching.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    matching.selectAll().orderBy(page.sortkey, direction).orderBy('id', direction).offset(page.offset).limit(page.limit).execute(),
  ]);
  return { count: Number(total.n), items: rows };
}

export async function findWhitelist(db: Kysely<Tables>, id: string): Promise<WhitelistRow | undefined> {
  return db.selectFrom('whitelists').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getWhitelist(db: Kysely<Tables>, id: string): Promise<WhitelistRow> {
  const row = await findWhitelist(db, id);
  if (!row) throw notFound('whitelist');
  return row;
}

/** The existing whitelists among `ids` (in no particular order). */
export async function findWhitelistsByIds(db: Kysely<Tables>, ids: readonly string[]): Promise<WhitelistRow[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  return db.selectFrom('whitelists').selectAll().where('id', 'in', unique).execute();
}

/**
 * Locks a whitelist's row for the rest of the transaction (a no-op write: a row lock on PostgreSQL,
 * the write lock on SQLite) and reads it; 404 when it does not exist.
 */
export async function lockWhitelist(trx: Kysely<Tables>, id: string): Promise<WhitelistRow> {
  const locked = await trx.updateTable('whitelists').set({ updated: sql<string>`updated` }).where('id', '=', id).executeTakeFirst();
  if (Number(locked.numUpdatedRows) === 0) throw notFound('whitelist');
  return getWhitelist(trx, id);
}

function stored(columns: WhitelistColumns) {
  return { name: columns.name, comment: columns.comment, type: columns.type, patterns: JSON.stringify(columns.patterns) };
}

export async function insertWhitelist(trx: Kysely<Tables>, id: string, columns: WhitelistColumns, actorId: string, now: Date): Promise<void> {
  const at = timestamp(now);
  try {
    await trx
      .insertInto('whitelists')
      .values({ id, ...stored(columns), created: at, updated: at, updated_by: actorId, author: actorId })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('name', `whitelist name "${columns.name}" is taken`);
    throw error;
  }
}

export async function updateWhitelistRow(trx: Kysely<Tables>, id: string, columns: WhitelistColumns, actorId: string, now: Date): Promise<void> {
  try {
    await trx
      .updateTable('whitelists')
      .set({ ...stored(columns), updated: timestamp(now), updated_by: actorId })
      .where('id', '=', id)
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('name', `whitelist name "${columns.name}" is taken`);
    throw error;
  }
}

export async function deleteWhitelistRow(trx: Kysely<Tables>, id: string): Promise<void> {
  await trx.deleteFrom('whitelists').where('id', '=', id).execute();
}

/** Whether a host principal's `command_restrictions` names the whitelist (as default or role-based). */
function restrictionsReference(restrictions: unknown, id: string): boolean {
  if (typeof restrictions !== 'object' || restrictions === null) return false;
  const { default_whitelist: defaultWhitelist, whitelists } = restrictions as { default_whitelist?: unknown; whitelists?: unknown };
  const handleId = (handle: unknown) => (typeof handle === 'object' && handle !== null ? (handle as { id?: unknown }).id : undefined);
  if (handleId(defaultWhitelist) === id) return true;
  return Array.isArray(whitelists) && whitelists.some((grant) => typeof grant === 'object' && grant !== null && handleId((grant as { whitelist?: unknown }).whitelist) === id);
}

/**
 * Ids of the hosts one of whose principals' command restrictions refer to the whitelist. Hosts
 * keep no index of whitelist ids, so the id's text narrows the candidates and their documents
 * decide (a whitelist delete is rare; this reads only the hosts that mention the id).
 */
export async function hostsReferencingWhitelist(db: Kysely<Tables>, id: string): Promise<string[]> {
  const rows = await db
    .selectFrom('hosts')
    .select(['id', 'document'])
    .where(sql<boolean>`document like ${`%${likeLiteral(JSON.stringify(id).slice(1, -1))}%`} escape '\\'`)
    .orderBy('id')
    .execute();
  return rows
    .filter((row) => {
      const document = JSON.parse(row.document) as HostDocument;
      return (document.principals ?? []).some((principal) => restrictionsReference(principal.command_restrictions, id));
    })
    .map((row) => row.id);
}
