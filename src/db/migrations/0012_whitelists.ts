import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/**
 * Command whitelists (`/host-store/api/v1/whitelists`): named lists of glob or regex patterns that
 * host principals' command restrictions refer to by id.
 */
export async function up(db: Kysely<unknown>, context: MigrationContext): Promise<void> {
  // Byte-order collation on PostgreSQL, so sorting by name agrees with SQLite's.
  const sortableText = context.dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  await db.schema
    .createTable('whitelists')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('name', sortableText, (column) => column.notNull().unique())
    .addColumn('comment', 'text', (column) => column.notNull().defaultTo(''))
    .addColumn('type', sortableText, (column) => column.notNull())
    // JSON array of the patterns, in the order sent.
    .addColumn('patterns', 'text', (column) => column.notNull())
    .addColumn('created', 'text', (column) => column.notNull())
    .addColumn('updated', 'text', (column) => column.notNull())
    .addColumn('updated_by', 'text', (column) => column.notNull())
    .addColumn('author', 'text', (column) => column.notNull())
    .execute();
  for (const key of ['type', 'created', 'updated']) {
    await db.schema.createIndex(`whitelists_${key}`).on('whitelists').columns([key, 'id']).execute();
  }
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.dropTable('whitelists').execute();
}
