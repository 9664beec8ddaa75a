import type { Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/**
 * Revoking a principal also revokes the web sessions it opened: that update finds the
 * principal's sessions by this index instead of scanning every session.
 */
export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.createIndex('web_sessions_user').on('web_sessions').columns(['user_type', 'user_id']).execute();
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.dropIndex('web_sessions_user').execute();
}
