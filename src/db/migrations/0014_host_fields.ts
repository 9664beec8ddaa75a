import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './types.js';

/**
 * `host_attributes`: one (field, value) row per searchable host field the SDK's HostSearch
 * filters on that had no index (distinguished_name, instance_id, source_id, organization,
 * organizational_unit, zone, host_type, host_classification, cloud_provider,
 * cloud_provider_region, scope, role, port, deployable, disabled), so each of those filters is an
 * index range like a tag. And an index on host_services (address, port) for `POST /hosts/resolve`.
 *
 * Existing hosts are backfilled from their documents. The derivation is frozen here (a landed
 * migration must not change when code does); the service's is hostAttributes in search-terms.ts.
 */
const STRING_FIELDS = [
  'distinguished_name',
  'instance_id',
  'source_id',
  'organization',
  'organizational_unit',
  'zone',
  'host_type',
  'host_classification',
  'cloud_provider',
  'cloud_provider_region',
  'disabled',
] as const;

function attributesOf(document: Record<string, unknown>): Array<{ field: string; value: string }> {
  const rows = new Map<string, { field: string; value: string }>();
  const add = (field: string, value: unknown) => {
    if (typeof value === 'number') value = String(value);
    // PostgreSQL's b-tree keys must stay under ~2.7 kB.
    if (typeof value !== 'string' || value === '' || Buffer.byteLength(value, 'utf8') > 2000) return;
    rows.set(`${field}\n${value}`, { field, value });
  };
  for (const field of STRING_FIELDS) add(field, document[field]);
  if (Array.isArray(document.scope)) for (const scope of document.scope) add('scope', scope);
  if (Array.isArray(document.principals)) {
    for (const principal of document.principals as Array<Record<string, unknown>>) {
      if (Array.isArray(principal?.roles)) for (const role of principal.roles as Array<Record<string, unknown>>) add('role', role?.id);
    }
  }
  if (Array.isArray(document.services)) for (const service of document.services as Array<Record<string, unknown>>) add('port', service?.port);
  if (document.deployable === true) add('deployable', 'true');
  return [...rows.values()];
}

const BATCH = 500;

export async function up(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema
    .createTable('host_attributes')
    .addColumn('field', 'text', (column) => column.notNull())
    .addColumn('value', 'text', (column) => column.notNull())
    .addColumn('host_id', 'text', (column) => column.notNull().references('hosts.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('host_attributes_pk', ['field', 'value', 'host_id'])
    .execute();
  await db.schema.createIndex('host_attributes_host').on('host_attributes').column('host_id').execute();
  await db.schema.createIndex('host_services_address').on('host_services').columns(['address', 'port']).execute();

  let after = '';
  for (;;) {
    const hosts = await sql<{ id: string; document: string }>`select id, document from hosts where id > ${after} order by id limit ${BATCH}`.execute(db);
    if (hosts.rows.length === 0) break;
    for (const host of hosts.rows) {
      let document: Record<string, unknown>;
      try {
        document = JSON.parse(host.document) as Record<string, unknown>;
      } catch {
        continue;
      }
      for (const row of attributesOf(document)) {
        await sql`insert into host_attributes (field, value, host_id) values (${row.field}, ${row.value}, ${host.id})`.execute(db);
      }
    }
    after = (hosts.rows[hosts.rows.length - 1] as { id: string }).id;
  }
}

export async function down(db: Kysely<unknown>, _context: MigrationContext): Promise<void> {
  await db.schema.dropIndex('host_services_address').execute();
  await db.schema.dropTable('host_attributes').execute();
}
