import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/** Text columns PrivX's LocalUser carries besides username, email and full_name ('' = unset). */
const TEXT_COLUMNS = [
  'comment',
  'display_name',
  'first_name',
  'last_name',
  'job_title',
  'company',
  'department',
  'telephone',
  'locale',
  'unix_account',
  'windows_account',
  'updated_by',
] as const;

/**
 * The rest of PrivX's LocalUser (the Go SDK's `userstore.LocalUser`): profile texts, `tags` and
 * `attributes` (JSON arrays), `password_change_required`, and when the password was last set
 * (`password.created` on the wire; null = no password set by privgate since this migration).
 */
export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  for (const column of TEXT_COLUMNS) {
    await db.schema.alterTable('users').addColumn(column, 'text', (definition) => definition.notNull().defaultTo('')).execute();
  }
  await db.schema.alterTable('users').addColumn('tags', 'text', (definition) => definition.notNull().defaultTo('[]')).execute();
  await db.schema.alterTable('users').addColumn('attributes', 'text', (definition) => definition.notNull().defaultTo('[]')).execute();
  await db.schema.alterTable('users').addColumn('password_change_required', 'integer', (definition) => definition.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('users').addColumn('password_created', 'text').execute();
  // A password set before this migration was set at the latest when the user last changed.
  await sql`update users set password_created = updated where password_hash is not null`.execute(db);
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  for (const column of ['password_created', 'password_change_required', 'attributes', 'tags', ...[...TEXT_COLUMNS].reverse()]) {
    await db.schema.alterTable('users').dropColumn(column).execute();
  }
}
