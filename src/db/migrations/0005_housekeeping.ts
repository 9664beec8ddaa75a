import type { Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/**
 * Indexes housekeeping walks: each purge batch finds the oldest expired rows by these instead of
 * scanning the table (icap_conf_sessions already has one).
 */
const INDEXES = [
  ['token_revocations_expires', 'token_revocations', 'expires'],
  ['refresh_tokens_expires', 'refresh_tokens', 'expires'],
  ['login_requests_expires', 'login_requests', 'expires'],
  ['authorization_codes_expires', 'authorization_codes', 'expires'],
  ['web_sessions_expires', 'web_sessions', 'expires'],
  ['login_failures_at', 'login_failures', 'at'],
] as const;

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  for (const [name, table, column] of INDEXES) await db.schema.createIndex(name).on(table).column(column).execute();
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  for (const [name] of [...INDEXES].reverse()) await db.schema.dropIndex(name).execute();
}
