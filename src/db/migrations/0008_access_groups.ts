import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

// Frozen here on purpose (a landed migration must not change when code does); the services use
// DEFAULT_ACCESS_GROUP_ID from services/authorizer/access-group-ids.ts, which has the same value.
const DEFAULT_ACCESS_GROUP_ID = '00000000-0000-4000-8000-0000000000a1';

/**
 * Access groups and their CAs; `access_group_id` on hosts and trusted clients (nullable, default
 * the default group). The default group is created here; its CA key needs the installation key,
 * which migrations do not have, so the first start makes it (ensureAccessGroupCas).
 */
export async function up(db: Kysely<unknown>, context: MigrationContext): Promise<void> {
  const sortableText = context.dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  await db.schema
    .createTable('access_groups')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('name', sortableText, (column) => column.notNull().unique())
    .addColumn('comment', 'text', (column) => column.notNull().defaultTo(''))
    .addColumn('host_certificate_trust_anchors', 'text', (column) => column.notNull().defaultTo(''))
    .addColumn('winrm_host_certificate_trust_anchors', 'text', (column) => column.notNull().defaultTo(''))
    .addColumn('db_host_certificate_trust_anchors', 'text', (column) => column.notNull().defaultTo(''))
    .addColumn('key_type', 'text', (column) => column.notNull())
    // The CA that signs; null only until the first start made the default group's CA.
    .addColumn('primary_ca_id', 'text')
    .addColumn('is_default', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('created', 'text', (column) => column.notNull())
    .addColumn('updated', 'text', (column) => column.notNull())
    .addColumn('updated_by', 'text', (column) => column.notNull())
    .addColumn('author', 'text', (column) => column.notNull())
    .execute();
  for (const key of ['created', 'updated']) {
    await db.schema.createIndex(`access_groups_${key}`).on('access_groups').columns([key, 'id']).execute();
  }
  await db.schema
    .createTable('access_group_cas')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('access_group_id', 'text', (column) => column.notNull().references('access_groups.id').onDelete('cascade'))
    .addColumn('key_type', 'text', (column) => column.notNull())
    .addColumn('certificate_pem', 'text', (column) => column.notNull())
    .addColumn('public_key_string', 'text', (column) => column.notNull())
    // Sealed under the installation key (context access_group_cas.private_key.<id>).
    .addColumn('private_key_sealed', 'text', (column) => column.notNull())
    .addColumn('created', 'text', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('access_group_cas_group').on('access_group_cas').columns(['access_group_id', 'created']).execute();

  const now = new Date().toISOString();
  await sql`insert into access_groups (id, name, comment, key_type, is_default, created, updated, updated_by, author)
    values (${DEFAULT_ACCESS_GROUP_ID}, 'Default', 'The default access group', 'ecdsa', 1, ${now}, ${now}, 'system', 'system')`.execute(db);

  // No foreign keys: SQLite cannot add a referencing column with a non-null default. Deleting a
  // group checks its references in the same transaction instead.
  for (const table of ['hosts', 'trusted_clients']) {
    await db.schema.alterTable(table).addColumn('access_group_id', 'text', (column) => column.defaultTo(DEFAULT_ACCESS_GROUP_ID)).execute();
    await db.schema.createIndex(`${table}_access_group`).on(table).column('access_group_id').execute();
  }
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  for (const table of ['trusted_clients', 'hosts']) {
    await db.schema.dropIndex(`${table}_access_group`).execute();
    await db.schema.alterTable(table).dropColumn('access_group_id').execute();
  }
  await db.schema.dropTable('access_group_cas').execute();
  await db.schema.dropTable('access_groups').execute();
}
