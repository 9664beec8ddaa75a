// Bulk seeding of hosts for the scale benchmark and the soak run: the same rows createHostAs()
// writes (hosts + host_services / host_principals / host_tags / host_addresses /
// host_search_grams, the host_count counter and the policy version), but many hosts per
// transaction and many rows per INSERT, through Kysely. No audit event per host: nothing the
// benchmarks read depends on it, and 100k audit rows would only slow the seeding down.
import crypto from 'node:crypto';
import { sql } from 'kysely';
import { hostColumns, hostIndexRows } from '../dist/services/host-store/repository.js';

/** Hosts named `payroll-…` (always this many, whatever the size): what the keyword search finds. */
export const NEEDLE_COUNT = 20;
/** The keyword matching exactly the needle hosts. */
export const NEEDLE_KEYWORD = 'payroll';
/** A tag only the needle hosts carry (all of them also have a WEB service). */
export const NEEDLE_TAG = 'team-payroll';
/** The zone of the needle hosts (the others are in their region's zone). */
export const NEEDLE_ZONE = 'zone-payroll';
/** Every WEB_EVERY-th host has a WEB service besides SSH (10 % of hosts). */
export const WEB_EVERY = 10;
/** Every OVERRIDE_EVERY-th host's `restricted` principal overrides the web options. */
const OVERRIDE_EVERY = 7;

const ROLES = ['web', 'app', 'db', 'cache', 'mq', 'api', 'batch', 'ci', 'git', 'vpn'];
const REGIONS = ['eu-west', 'eu-north', 'us-east', 'us-west', 'ap-south'];
const ENVS = ['prod', 'staging', 'dev'];

/**
 * The document of host number `index` (0-based): SSH on its address, a WEB service on every
 * tenth, two or three principals, an environment and a datacentre tag. Hosts 0..NEEDLE_COUNT-1
 * are the payroll hosts the searches look for.
 */
export function hostDocument(index) {
  const needle = index < NEEDLE_COUNT;
  const number = String(index).padStart(6, '0');
  const region = REGIONS[index % REGIONS.length];
  const name = needle ? `${NEEDLE_KEYWORD}-${number}.fin.corp.example` : `${ROLES[index % ROLES.length]}-${number}.${region}.corp.example`;
  const address = `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
  const web = needle || index % WEB_EVERY === 0;
  const services = [{ service: 'SSH', address, port: 22 }];
  if (web) services.push({ service: 'WEB', address: name, port: 443, allowed_domains: [`*.${region}.corp.example`] });
  const principals = [{ principal: 'root' }, { principal: 'deploy' }];
  if (index % OVERRIDE_EVERY === 0) principals.push({ principal: 'restricted', service_options: { web: { file_transfer: false, audio: false, clipboard: true } } });
  const tags = [`env-${ENVS[index % ENVS.length]}`, `dc-${index % 8}`];
  if (needle) tags.push(NEEDLE_TAG);
  return { name, addresses: [address], disabled: 'FALSE', services, principals, tags, zone: needle ? NEEDLE_ZONE : `zone-${region}` };
}

function hostRows(document, actorId, at) {
  const id = crypto.randomUUID();
  const index = hostIndexRows(id, document);
  return {
    id,
    host: { id, ...hostColumns(document), created: at, updated: at, updated_by: actorId, author: actorId },
    services: index.host_services,
    principals: index.host_principals,
    tags: index.host_tags,
    addresses: index.host_addresses,
    grams: index.host_search_grams,
    attributes: index.host_attributes,
  };
}

/**
 * SQLite: the rows as one JSON parameter, spread by json_each — no per-value query building.
 */
async function insertAllJson(trx, table, rows) {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const size = 20_000;
  for (let start = 0; start < rows.length; start += size) {
    const json = JSON.stringify(rows.slice(start, start + size).map((row) => columns.map((column) => row[column])));
    await sql`insert into ${sql.table(table)} (${sql.join(columns.map((column) => sql.ref(column)))}) select ${sql.join(columns.map((_, index) => sql`value ->> ${sql.raw(String(index))}`))} from json_each(${json})`.execute(trx);
  }
}

/**
 * PostgreSQL: one INSERT … SELECT FROM unnest(arrays) per table and batch — a handful of
 * parameters however many rows, which is several times faster than multi-row VALUES.
 */
async function insertAllUnnest(trx, table, rows) {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const types = columns.map((column) => (typeof rows[0][column] === 'number' ? 'int4' : 'text'));
  const arrays = columns.map((column, index) => sql`${rows.map((row) => row[column])}::${sql.raw(types[index])}[]`);
  await sql`insert into ${sql.table(table)} (${sql.join(columns.map((column) => sql.ref(column)))}) select * from unnest(${sql.join(arrays)})`.execute(trx);
}

/**
 * Adds hosts number `from`..`to`-1 (see {@link hostDocument}) in one transaction, building rows
 * `batch` hosts at a time. Returns the ids in order.
 *
 * Shortcuts that leave the same rows and the same schema behind: the grams' secondary index
 * (host_id) is dropped for the load and built again after it (and on PostgreSQL the primary key
 * too, and the foreign-key triggers are skipped with session_replication_role = replica: the rows
 * reference their hosts by construction); SQLite gets a bigger page cache while loading. On this
 * kind of machine PostgreSQL inserts ~100k index entries/s, and 100k hosts have ~3.8M trigrams.
 */
export async function seedHosts(db, dialect, from, to, { batch = 2000, actorId = 'bench-seed', at = new Date().toISOString() } = {}) {
  if (dialect === 'postgres') {
    return db.transaction().execute(async (trx) => {
      await sql`set local session_replication_role = replica`.execute(trx);
      await sql`set local maintenance_work_mem = '256MB'`.execute(trx);
      await sql`drop index host_search_grams_host`.execute(trx);
      await sql`alter table host_search_grams drop constraint host_search_grams_pk`.execute(trx);
      const ids = await seedRows(trx, insertAllUnnest, from, to, batch, actorId, at);
      await sql`alter table host_search_grams add constraint host_search_grams_pk primary key (gram, host_id)`.execute(trx);
      await sql`create index host_search_grams_host on host_search_grams (host_id)`.execute(trx);
      return ids;
    });
  }
  const cacheSize = (await sql`pragma cache_size`.execute(db)).rows[0].cache_size;
  await sql`pragma cache_size = -1048576`.execute(db);
  try {
    await sql`drop index host_search_grams_host`.execute(db);
    const ids = await db.transaction().execute((trx) => seedRows(trx, insertAllJson, from, to, batch, actorId, at));
    await sql`create index host_search_grams_host on host_search_grams (host_id)`.execute(db);
    return ids;
  } finally {
    await sql`pragma cache_size = ${sql.raw(String(Number(cacheSize)))}`.execute(db);
  }
}

async function seedRows(trx, insert, from, to, batch, actorId, at) {
  const ids = [];
  for (let start = from; start < to; start += batch) {
    const end = Math.min(to, start + batch);
    const rows = [];
    for (let index = start; index < end; index += 1) rows.push(hostRows(hostDocument(index), actorId, at));
    await insert(trx, 'hosts', rows.map((row) => row.host));
    for (const [table, key] of [
      ['host_services', 'services'],
      ['host_principals', 'principals'],
      ['host_tags', 'tags'],
      ['host_addresses', 'addresses'],
      ['host_search_grams', 'grams'],
      ['host_attributes', 'attributes'],
    ]) {
      const tableRows = rows.flatMap((row) => row[key]);
      // In index order: neighbouring inserts touch neighbouring pages.
      if (table === 'host_search_grams') tableRows.sort((a, b) => (a.gram < b.gram ? -1 : a.gram > b.gram ? 1 : a.host_id < b.host_id ? -1 : 1));
      await insert(trx, table, tableRows);
    }
    for (const row of rows) ids.push(row.id);
  }
  await trx.updateTable('counters').set({ value: sql`value + ${to - from}` }).where('name', '=', 'host_count').execute();
  await trx.updateTable('counters').set({ value: sql`value + 1` }).where('name', '=', 'policy_version').execute();
  return ids;
}
