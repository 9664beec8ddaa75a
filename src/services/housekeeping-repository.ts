import { sql } from 'kysely';
import type { Database } from '../db/index.js';
import type { Tables } from '../db/schema.js';

/** Housekeeping's SQL (housekeeping.ts): batched deletes of rows past their retention. */

/** A table, its key, and the column holding the RFC 3339 instant its rows are judged by. */
export type PurgeTarget = {
  [T in keyof Tables]: { table: T; key: keyof Tables[T] & string; column: keyof Tables[T] & string };
}[keyof Tables];

/**
 * Deletes up to `batchSize` rows of `target` whose column is before `cutoff`, oldest first, in one
 * statement; returns how many went. On PostgreSQL the batch skips rows another node is deleting
 * (`for update skip locked`) instead of waiting on them.
 */
export async function deleteExpiredBatch(database: Database, target: PurgeTarget, cutoff: string, batchSize: number): Promise<number> {
  const lock = database.dialect === 'postgres' ? sql` for update skip locked` : sql``;
  const table = sql.table(target.table);
  const key = sql.ref(target.key);
  const column = sql.ref(target.column);
  const result = await sql`
    delete from ${table} where ${column} < ${cutoff} and ${key} in (
      select ${key} from ${table} where ${column} < ${cutoff} order by ${column} limit ${batchSize}${lock}
    )`.execute(database.db);
  return Number(result.numAffectedRows ?? 0n);
}
