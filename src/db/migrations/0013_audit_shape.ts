import type { Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/**
 * The audit search (`POST /monitor-service/api/v1/auditevents/search`) filters by the object an
 * event is about (`host_id`, `access_group_id`, `session_id`), newest first; without this index
 * that filter reads the whole log.
 */
export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.createIndex('audit_events_object').on('audit_events').columns(['object_id', 'seq']).execute();
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.dropIndex('audit_events_object').execute();
}
