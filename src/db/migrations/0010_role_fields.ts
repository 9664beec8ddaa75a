import type { Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/** The default access group every role belongs to unless it names another. */
const DEFAULT_ACCESS_GROUP_ID = '00000000-0000-4000-8000-0000000000a1';

/**
 * Every field of the PrivX SDK's Role that privgate did not keep: source rules, access group,
 * contextual limit (`context`), permit_agent, tags, the grant window fields and `updated_by`
 * (JSON columns are text, like `permissions`). And `role_principal_keys`: per-role SSH key pairs
 * whose private half is sealed under the installation key (context `role_principal_keys.private_key:<id>`).
 *
 * One ALTER per column: SQLite adds one column per statement.
 */
const ROLE_COLUMNS: ReadonlyArray<readonly [string, 'text' | 'integer', string | number]> = [
  ['source_rules', 'text', '{"type":"GROUP","match":"ANY","rules":[]}'],
  ['access_group_id', 'text', DEFAULT_ACCESS_GROUP_ID],
  ['context', 'text', '{"enabled":false,"validity":[],"start_time":"","end_time":"","timezone":"","ip_masks":[]}'],
  ['permit_agent', 'integer', 0],
  ['tags', 'text', '[]'],
  ['grant_type', 'text', ''],
  ['grant_start', 'text', ''],
  ['grant_end', 'text', ''],
  ['grant_validity_periods', 'text', '[]'],
  ['floating_length', 'integer', 0],
  ['updated_by', 'text', ''],
];

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  for (const [name, type, fallback] of ROLE_COLUMNS) {
    await db.schema
      .alterTable('roles')
      .addColumn(name, type, (column) => column.notNull().defaultTo(fallback))
      .execute();
  }
  await db.schema
    .createTable('role_principal_keys')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('role_id', 'text', (column) => column.notNull().references('roles.id').onDelete('cascade'))
    .addColumn('public_key', 'text', (column) => column.notNull())
    .addColumn('private_key_sealed', 'text', (column) => column.notNull())
    .addColumn('created', 'text', (column) => column.notNull())
    .addColumn('author', 'text', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('role_principal_keys_role').on('role_principal_keys').columns(['role_id', 'created']).execute();
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.dropTable('role_principal_keys').execute();
  for (const [name] of [...ROLE_COLUMNS].reverse()) await db.schema.alterTable('roles').dropColumn(name).execute();
}
