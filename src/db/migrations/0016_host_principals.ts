import type { Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/**
 * `host_principal_secrets`: the passphrase (target-account password) of a host principal, sealed
 * under the installation key for its (host, principal) — never in the host's document. One row
 * per principal that has one; the host's writes keep the rows in step with its principals.
 */
export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('host_principal_secrets')
    .addColumn('host_id', 'text', (column) => column.notNull())
    .addColumn('principal', 'text', (column) => column.notNull())
    .addColumn('passphrase_sealed', 'text', (column) => column.notNull())
    .addColumn('updated', 'text', (column) => column.notNull())
    .addPrimaryKeyConstraint('host_principal_secrets_pk', ['host_id', 'principal'])
    .execute();
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.dropTable('host_principal_secrets').execute();
}
