import type { Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/**
 * The login throttle's counters: one row per (scope, name) — an account or a client address —
 * holding how many attempts were counted since `window_start`. The throttle reserves an attempt
 * with a single upsert on this row before it checks any credential, so concurrent attempts on one
 * key are serialised by the row (see services/auth/throttle.ts). They replace `login_failures`
 * (one row per failure, counted before and written after the check, which parallel attempts
 * raced past); its rows only matter for one throttle window, so it is dropped, not copied.
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
  await db.schema.dropTable('login_failures').execute();
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  // As 0002 and 0005 made it.
  await db.schema
    .createTable('login_failures')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('account', 'text', (column) => column.notNull())
    .addColumn('address', 'text', (column) => column.notNull())
    .addColumn('at', 'text', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('login_failures_account').on('login_failures').columns(['account', 'at']).execute();
  await db.schema.createIndex('login_failures_address').on('login_failures').columns(['address', 'at']).execute();
  await db.schema.createIndex('login_failures_at').on('login_failures').column('at').execute();
  await db.schema.dropTable('login_attempts').execute();
}
