import type { Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/** Trusted clients, the web-proxy CA and its certificates, config sessions and web sessions. */
export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('trusted_clients')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('type', 'text', (column) => column.notNull())
    .addColumn('name', 'text', (column) => column.notNull().unique())
    .addColumn('permissions', 'text', (column) => column.notNull())
    .addColumn('subnets', 'text', (column) => column.notNull())
    .addColumn('enabled', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('registered', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('allow_repeated_registration', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('registration_secret_hash', 'text')
    .addColumn('registration_secret_expires', 'text')
    .addColumn('oauth_client_id', 'text', (column) => column.unique())
    .addColumn('oauth_client_secret_hash', 'text')
    .addColumn('client_secret_hash', 'text')
    .addColumn('web_proxy_address', 'text', (column) => column.notNull().defaultTo(''))
    .addColumn('web_proxy_port', 'text', (column) => column.notNull().defaultTo(''))
    .addColumn('routing_prefix', 'text', (column) => column.notNull().defaultTo(''))
    .addColumn('extender_address', 'text', (column) => column.notNull())
    .addColumn('group_id', 'text', (column) => column.notNull().defaultTo(''))
    .addColumn('data', 'text', (column) => column.notNull().defaultTo(''))
    .addColumn('created', 'text', (column) => column.notNull())
    .addColumn('updated', 'text', (column) => column.notNull())
    .addColumn('author', 'text', (column) => column.notNull())
    .execute();
  await db.schema
    .createTable('web_proxy_cas')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('slot', 'text', (column) => column.notNull().unique())
    .addColumn('group_id', 'text', (column) => column.notNull())
    .addColumn('type', 'text', (column) => column.notNull())
    .addColumn('certificate_pem', 'text', (column) => column.notNull())
    .addColumn('private_key_pem', 'text', (column) => column.notNull())
    .addColumn('created', 'text', (column) => column.notNull())
    .execute();
  await db.schema
    .createTable('web_proxy_certificates')
    .addColumn('serial', 'text', (column) => column.primaryKey())
    .addColumn('ca_id', 'text', (column) => column.notNull().references('web_proxy_cas.id').onDelete('cascade'))
    // No foreign key: a deleted client's revoked certificates must stay in the CRL.
    .addColumn('trusted_client_id', 'text', (column) => column.notNull())
    .addColumn('issued', 'text', (column) => column.notNull())
    .addColumn('not_after', 'text', (column) => column.notNull())
    .addColumn('revoked', 'text')
    .execute();
  await db.schema.createIndex('web_proxy_certificates_client').on('web_proxy_certificates').column('trusted_client_id').execute();
  await db.schema.createIndex('web_proxy_certificates_ca').on('web_proxy_certificates').columns(['ca_id', 'revoked']).execute();
  await db.schema
    .createTable('icap_conf_sessions')
    .addColumn('id_hash', 'text', (column) => column.primaryKey())
    .addColumn('trusted_client_id', 'text', (column) => column.notNull().references('trusted_clients.id').onDelete('cascade'))
    .addColumn('created', 'text', (column) => column.notNull())
    .addColumn('expires', 'text', (column) => column.notNull())
    .addColumn('used', 'text')
    .execute();
  await db.schema.createIndex('icap_conf_sessions_expires').on('icap_conf_sessions').column('expires').execute();
  await db.schema
    .createTable('web_sessions')
    .addColumn('id', 'text', (column) => column.primaryKey())
    .addColumn('user_type', 'text', (column) => column.notNull())
    .addColumn('user_id', 'text', (column) => column.notNull())
    .addColumn('user_name', 'text', (column) => column.notNull())
    .addColumn('host_id', 'text', (column) => column.notNull())
    .addColumn('principal', 'text', (column) => column.notNull())
    .addColumn('created', 'text', (column) => column.notNull())
    .addColumn('expires', 'text', (column) => column.notNull())
    .addColumn('revoked', 'text')
    .execute();
  await db.schema.createIndex('web_sessions_revoked').on('web_sessions').columns(['revoked', 'expires']).execute();
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.dropTable('web_sessions').execute();
  await db.schema.dropTable('icap_conf_sessions').execute();
  await db.schema.dropTable('web_proxy_certificates').execute();
  await db.schema.dropTable('web_proxy_cas').execute();
  await db.schema.dropTable('trusted_clients').execute();
}
