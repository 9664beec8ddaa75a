import type { Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/**
 * API clients and trusted clients as the PrivX SDKs read them:
 *
 * - `api_clients.secret_sealed` / `oauth_client_secret_sealed`: the two secrets sealed under the
 *   installation key (AES-256-GCM), so GET can return them as PrivX does. Null for clients made
 *   before this migration (only their keyed hashes exist): they keep working and read back empty
 *   secrets until rotated. Verification still uses the keyed hashes.
 * - `updated_by` on both tables.
 * - trusted clients: the extender fields of the SDK's TrustedClient (`access_group_id` is 0008's).
 */
export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.alterTable('api_clients').addColumn('secret_sealed', 'text').execute();
  await db.schema.alterTable('api_clients').addColumn('oauth_client_secret_sealed', 'text').execute();
  await db.schema.alterTable('api_clients').addColumn('updated_by', 'text', (column) => column.notNull().defaultTo('')).execute();

  await db.schema.alterTable('trusted_clients').addColumn('updated_by', 'text', (column) => column.notNull().defaultTo('')).execute();
  await db.schema.alterTable('trusted_clients').addColumn('extender_mode', 'text', (column) => column.notNull().defaultTo('')).execute();
  // JSON array of strings, like the other list columns.
  await db.schema.alterTable('trusted_clients').addColumn('web_proxy_extender_route_patterns', 'text', (column) => column.notNull().defaultTo('[]')).execute();
  await db.schema.alterTable('trusted_clients').addColumn('extender_ssh_address', 'text', (column) => column.notNull().defaultTo('')).execute();
  await db.schema.alterTable('trusted_clients').addColumn('extender_ssh_port', 'integer', (column) => column.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('trusted_clients').addColumn('extender_public_key', 'text', (column) => column.notNull().defaultTo('')).execute();

}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  for (const column of ['extender_public_key', 'extender_ssh_port', 'extender_ssh_address', 'web_proxy_extender_route_patterns', 'extender_mode', 'updated_by']) {
    await db.schema.alterTable('trusted_clients').dropColumn(column).execute();
  }
  for (const column of ['updated_by', 'oauth_client_secret_sealed', 'secret_sealed']) {
    await db.schema.alterTable('api_clients').dropColumn(column).execute();
  }
}
