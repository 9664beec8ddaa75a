import type { Kysely } from 'kysely';
import type { MigrationContext } from './index.js';

/**
 * The login throttle's counters: one row per (scope, name) — an account or a client address —
 * holding how many attempts were counted since `window_start`. The throttle reserves an attempt
 * with a single upsert on this row before it checks any credential, so concurrent attempts on one
 * key are serialised by the row (see services/auth/throttle.ts).
 */
export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('login_attempts')
    .addColumn('scope', 'text', (column) => column.notNull())
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('n', 'integer', (column) => column.notNull())
    .addColumn('window_start', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('login_attempts_pkey', ['scope', 'name'])
    .execute();
  // Housekeeping drops counters whose window is long over, oldest first.
  await db.schema.createIndex('login_attempts_window_start').on('login_attempts').column('window_start').execute();
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.dropTable('login_attempts').execute();
}
