import type { Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

export async function up(db: Kysely<unknown>, context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('meta')
    .addColumn('key', 'text', (column) => column.primaryKey())
    .addColumn('value', 'text', (column) => column.notNull())
    .execute();
  await db.schema
    .createTable('counters')
    .addColumn('name', 'text', (column) => column.primaryKey())
    .addColumn('value', 'bigint', (column) => column.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('audit_events')
    .addColumn('seq', context.dialect === 'postgres' ? 'bigserial' : 'integer', (column) =>
      context.dialect === 'postgres' ? column.primaryKey() : column.primaryKey().autoIncrement(),
    )
    .addColumn('id', 'text', (column) => column.notNull().unique())
    .addColumn('created', 'text', (column) => column.notNull())
    .addColumn('type', 'text', (column) => column.notNull())
    .addColumn('outcome', 'text', (column) => column.notNull())
    .addColumn('principal_type', 'text')
    .addColumn('principal_id', 'text')
    .addColumn('principal_name', 'text')
    .addColumn('source_address', 'text')
    .addColumn('object_type', 'text')
    .addColumn('object_id', 'text')
    .addColumn('details', 'text', (column) => column.notNull())
    .addColumn('reporter', 'text', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('audit_events_created').on('audit_events').columns(['created', 'seq']).execute();
  await db.schema.createIndex('audit_events_type').on('audit_events').columns(['type', 'seq']).execute();
  await db.schema.createIndex('audit_events_principal').on('audit_events').columns(['principal_id', 'seq']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('audit_events').execute();
  await db.schema.dropTable('counters').execute();
  await db.schema.dropTable('meta').execute();
}
