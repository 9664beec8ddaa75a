import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/**
 * Settings rows, hosts and the host index tables. Names sort byte-wise on both databases
 * (PostgreSQL columns get the "C" collation) so a page is the same page on either.
 */
export async function up(db: Kysely<unknown>, context: MigrationContext): Promise<void> {
  const sortableText = context.dialect === 'postgres' ? sql`text collate "C"` : sql`text`;

  await db.schema
    .createTable('settings')
    .addColumn('scope', 'text', (column) => column.notNull())
    .addColumn('section', 'text', (column) => column.notNull())
    .addColumn('value', 'text', (column) => column.notNull())
    .addColumn('version', 'integer', (column) => column.notNull())
    .addColumn('updated', 'text', (column) => column.notNull())
    .addColumn('updated_by', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('settings_pk', ['scope', 'section'])
    .execute();

  await db.schema
    .createTable('hosts')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('name', sortableText, (column) => column.notNull())
    .addColumn('common_name', sortableText, (column) => column.notNull())
    .addColumn('external_id', 'text', (column) => column.notNull())
    .addColumn('disabled', 'text', (column) => column.notNull())
    .addColumn('search_text', 'text', (column) => column.notNull())
    .addColumn('document', 'text', (column) => column.notNull())
    .addColumn('created', 'text', (column) => column.notNull())
    .addColumn('updated', 'text', (column) => column.notNull())
    .addColumn('updated_by', 'text', (column) => column.notNull())
    .addColumn('author', 'text', (column) => column.notNull())
    .execute();
  // Sort + page walks one of these; the id tie-breaker keeps pages stable under equal keys.
  for (const key of ['name', 'common_name', 'created', 'updated']) {
    await db.schema.createIndex(`hosts_${key}`).on('hosts').columns([key, 'id']).execute();
  }
  await db.schema.createIndex('hosts_external_id').on('hosts').column('external_id').execute();

  await db.schema
    .createTable('host_services')
    .addColumn('host_id', 'text', (column) => column.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('position', 'integer', (column) => column.notNull())
    .addColumn('service', 'text', (column) => column.notNull())
    .addColumn('address', 'text', (column) => column.notNull())
    .addColumn('port', 'integer', (column) => column.notNull())
    .addPrimaryKeyConstraint('host_services_pk', ['host_id', 'position'])
    .execute();
  await db.schema.createIndex('host_services_service').on('host_services').columns(['service', 'host_id']).execute();

  await db.schema
    .createTable('host_principals')
    .addColumn('host_id', 'text', (column) => column.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('principal', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('host_principals_pk', ['host_id', 'principal'])
    .execute();
  await db.schema.createIndex('host_principals_principal').on('host_principals').columns(['principal', 'host_id']).execute();

  await db.schema
    .createTable('host_tags')
    .addColumn('host_id', 'text', (column) => column.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('tag', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('host_tags_pk', ['host_id', 'tag'])
    .execute();
  await db.schema.createIndex('host_tags_tag').on('host_tags').columns(['tag', 'host_id']).execute();

  await db.schema
    .createTable('host_addresses')
    .addColumn('host_id', 'text', (column) => column.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('address', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('host_addresses_pk', ['host_id', 'address'])
    .execute();
  await db.schema.createIndex('host_addresses_address').on('host_addresses').columns(['address', 'host_id']).execute();

  await db.schema
    .createTable('host_search_grams')
    .addColumn('gram', 'text', (column) => column.notNull())
    .addColumn('host_id', 'text', (column) => column.notNull().references('hosts.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('host_search_grams_pk', ['gram', 'host_id'])
    .execute();
  await db.schema.createIndex('host_search_grams_host').on('host_search_grams').column('host_id').execute();

  // Kept in the transaction of every create/delete, so the unfiltered list never counts rows.
  await sql`insert into counters (name, value) values ('host_count', 0)`.execute(db);
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await sql`delete from counters where name = 'host_count'`.execute(db);
  for (const table of ['host_search_grams', 'host_addresses', 'host_tags', 'host_principals', 'host_services', 'hosts', 'settings']) {
    await db.schema.dropTable(table).execute();
  }
}
