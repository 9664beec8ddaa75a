import { sql, type Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import { resolveEffectiveServiceOptions, type EffectiveServiceOptions, type ServiceOptions, type ServiceOptionsOverride } from '../../lib/service-options.js';
import { timestamp } from '../../lib/time.js';
import type { Principal } from '../../access.js';
import { DEFAULT_ACCESS_GROUP_ID } from '../authorizer/access-group-repository.js';
import { findScope, findSection, type SettingsScope, type SettingsSection } from '../settings/registry.js';
import { readSection, readSectionNow, type SectionState } from '../settings/repository.js';
import { certificateInfo, type Host, type HostCertificateInfo, type HostDocument } from './host-document.js';
import { deletePrincipalSecrets } from './principal-secret-repository.js';
import { hostAttributes, hostGrams, searchText } from './search-terms.js';

/** Who changes a host, and when. */
export interface HostActor {
  principal: Pick<Principal, 'type' | 'id' | 'name'>;
  at: Date;
}

// ─── default service options ────────────────────────────────────────────────────────────────

let defaultServiceOptionsEntry: { scope: SettingsScope; section: SettingsSection } | undefined;

function defaultServiceOptionsSection(): { scope: SettingsScope; section: SettingsSection } {
  if (defaultServiceOptionsEntry) return defaultServiceOptionsEntry;
  const scope = findScope('host-store');
  const section = scope && findSection(scope, 'default_service_options');
  if (!scope || !section) throw new Error('settings registry lacks host-store/default_service_options');
  return (defaultServiceOptionsEntry = { scope, section });
}

/** The installation's default service options and their settings version (0 = factory defaults). */
export async function readDefaultServiceOptions(db: Kysely<Tables>): Promise<{ options: ServiceOptions; version: number }> {
  const { scope, section } = defaultServiceOptionsSection();
  return asDefaultServiceOptions(await readSection(db, scope, section));
}

/** {@link readDefaultServiceOptions} without waiting, where the database allows it (see readSectionNow). */
export function readDefaultServiceOptionsNow(db: Kysely<Tables>): { options: ServiceOptions; version: number } | undefined {
  const { scope, section } = defaultServiceOptionsSection();
  const state = readSectionNow(db, scope, section);
  return state && asDefaultServiceOptions(state);
}

function asDefaultServiceOptions(state: SectionState): { options: ServiceOptions; version: number } {
  return { options: state.value as ServiceOptions, version: state.version };
}

/** The installation's default service options, read from the database on every call (never cached). */
export async function getDefaultServiceOptions(db: Kysely<Tables>): Promise<ServiceOptions> {
  return (await readDefaultServiceOptions(db)).options;
}

// ─── reading hosts ─────────────────────────────────────────────────────────────────────────

/** The columns of a host row that make a {@link Host}. */
export type HostRow = Pick<Tables['hosts'], 'id' | 'document' | 'created' | 'updated' | 'updated_by' | 'author' | 'access_group_id'>;
export const HOST_COLUMNS = ['hosts.id', 'hosts.document', 'hosts.created', 'hosts.updated', 'hosts.updated_by', 'hosts.author', 'hosts.access_group_id'] as const;

/**
 * A stored host row as the API's host: the document with the server-kept fields. Its access group
 * is the column's (hosts stored before access groups existed have none in their document).
 */
export function toHost(row: HostRow): Host {
  const document = JSON.parse(row.document) as HostDocument;
  return {
    ...HOST_DEFAULTS,
    id: row.id,
    ...document,
    ...serverState(document),
    scope: Array.isArray(document.scope) ? document.scope : [],
    access_group_id: row.access_group_id ?? DEFAULT_ACCESS_GROUP_ID,
    created: row.created,
    updated: row.updated,
    updated_by: row.updated_by,
    author: row.author,
  };
}

/**
 * Fields the SDK's Host declares that a client may leave out, as a host that never set them reads
 * (Go zero values, and empty lists rather than null).
 */
const HOST_DEFAULTS = {
  deployable: false,
  tofu: false,
  toch: false,
  stand_alone_host: false,
  password_rotation_enabled: false,
  host_certificate_raw: '',
  ssh_host_public_keys: [],
  scope: [],
} as const;

/**
 * What the server owns on a host: `status` (privgate reports no host status yet), `deleted` and
 * `to_be_deleted` (a stored host is neither; deletion removes it), and `host_certificate`, the
 * parsed `host_certificate_raw` when that is a PEM certificate.
 */
function serverState(document: HostDocument): { status: []; deleted: false; to_be_deleted: false; host_certificate?: HostCertificateInfo } {
  const info = typeof document.host_certificate_raw === 'string' ? certificateInfo(document.host_certificate_raw) : undefined;
  return { status: [], deleted: false, to_be_deleted: false, ...(info ? { host_certificate: info } : {}) };
}

export async function getHost(db: Kysely<Tables>, id: string): Promise<Host> {
  const row = await db.selectFrom('hosts').select(HOST_COLUMNS).where('hosts.id', '=', id).executeTakeFirst();
  if (!row) throw notFound('host');
  return toHost(row);
}

// ─── writing hosts ─────────────────────────────────────────────────────────────────────────

const INSERT_CHUNK = 500;

async function insertChunked<T extends keyof Tables & string>(db: Kysely<Tables>, table: T, rows: Array<Tables[T]>): Promise<void> {
  for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
    // Kysely cannot relate a generic table name to its row type; the callers' rows are typed.
    await db.insertInto(table).values(rows.slice(start, start + INSERT_CHUNK) as never).execute();
  }
}

/** The `hosts` columns derived from a document (bench/lib-seed.mjs bulk-loads with these too). */
export function hostColumns(document: HostDocument) {
  return {
    name: document.name ?? '',
    common_name: document.common_name ?? '',
    external_id: document.external_id ?? '',
    disabled: document.disabled,
    search_text: searchText(document),
    document: JSON.stringify(document),
    access_group_id: typeof document.access_group_id === 'string' && document.access_group_id !== '' ? document.access_group_id : DEFAULT_ACCESS_GROUP_ID,
  };
}

/** A host's rows in each index table, derived from its document. */
export function hostIndexRows(id: string, document: HostDocument) {
  return {
    host_services: document.services.map((service, position) => ({ host_id: id, position, service: service.service, address: service.address.toLowerCase(), port: service.port })),
    host_principals: document.principals.map((principal) => ({ host_id: id, principal: principal.principal })),
    host_tags: [...new Set(document.tags)].map((tag) => ({ host_id: id, tag })),
    host_addresses: [...new Set(document.addresses.map((address) => address.toLowerCase()))].map((address) => ({ host_id: id, address })),
    host_search_grams: hostGrams(document).map((gram) => ({ gram, host_id: id })),
    host_attributes: hostAttributes(document).map((attribute) => ({ field: attribute.field, value: attribute.value, host_id: id })),
  };
}

/** Rewrites a host's rows in the index tables from its document. */
async function writeIndexRows(db: Kysely<Tables>, id: string, document: HostDocument): Promise<void> {
  const rows = hostIndexRows(id, document);
  for (const table of ['host_services', 'host_principals', 'host_tags', 'host_addresses', 'host_search_grams', 'host_attributes'] as const) {
    await db.deleteFrom(table).where('host_id', '=', id).execute();
  }
  await insertChunked(db, 'host_services', rows.host_services);
  await insertChunked(db, 'host_principals', rows.host_principals);
  await insertChunked(db, 'host_tags', rows.host_tags);
  await insertChunked(db, 'host_addresses', rows.host_addresses);
  await insertChunked(db, 'host_search_grams', rows.host_search_grams);
  await insertChunked(db, 'host_attributes', rows.host_attributes);
}

async function adjustHostCount(db: Kysely<Tables>, delta: 1 | -1): Promise<void> {
  await db
    .updateTable('counters')
    .set({ value: sql<number>`value + ${delta}` })
    .where('name', '=', 'host_count')
    .execute();
}

/**
 * Locks a host row for the rest of the transaction (a no-op write: a row lock on PostgreSQL, the
 * write lock on SQLite) and reads its document, so the "before" of an update or delete is exact.
 */
export async function lockHost(trx: Kysely<Tables>, id: string): Promise<HostDocument> {
  const locked = await trx.updateTable('hosts').set({ updated: sql<string>`updated` }).where('id', '=', id).executeTakeFirst();
  if (Number(locked.numUpdatedRows) === 0) throw notFound('host');
  // The stored document, not the host as read (which adds defaults and server-owned fields).
  const row = await trx.selectFrom('hosts').select(['hosts.document', 'hosts.access_group_id']).where('hosts.id', '=', id).executeTakeFirstOrThrow();
  const document = JSON.parse(row.document) as HostDocument;
  return { ...document, access_group_id: row.access_group_id ?? DEFAULT_ACCESS_GROUP_ID };
}

/** Stores a new host with its index rows and counts it; call in the change's transaction. */
export async function insertHost(trx: Kysely<Tables>, id: string, document: HostDocument, actor: HostActor): Promise<void> {
  const at = timestamp(actor.at);
  await trx
    .insertInto('hosts')
    .values({ id, ...hostColumns(document), created: at, updated: at, updated_by: actor.principal.id, author: actor.principal.id })
    .execute();
  await writeIndexRows(trx, id, document);
  await adjustHostCount(trx, 1);
}

/** Replaces a (locked) host's document and index rows; call in the change's transaction. */
export async function replaceHost(trx: Kysely<Tables>, id: string, document: HostDocument, actor: HostActor): Promise<void> {
  await trx
    .updateTable('hosts')
    .set({ ...hostColumns(document), updated: timestamp(actor.at), updated_by: actor.principal.id })
    .where('id', '=', id)
    .execute();
  await writeIndexRows(trx, id, document);
}

/** Deletes a (locked) host (its index rows and stored passphrases go with it) and uncounts it; call in the change's transaction. */
export async function removeHost(trx: Kysely<Tables>, id: string): Promise<void> {
  await deletePrincipalSecrets(trx, id);
  await trx.deleteFrom('hosts').where('id', '=', id).execute();
  await adjustHostCount(trx, -1);
}

// ─── effective options and the policy feed ─────────────────────────────────────────────────

/** Effective service options of one principal (account) of a host; 404 for an unknown host or principal. */
export async function effectiveServiceOptions(db: Kysely<Tables>, hostId: string, principalName: string): Promise<EffectiveServiceOptions> {
  const host = await getHost(db, hostId);
  const principal = host.principals.find((candidate) => candidate.principal === principalName);
  if (!principal) throw notFound(`principal "${principalName}" of the host`, 'principal');
  return resolveEffectiveServiceOptions(await getDefaultServiceOptions(db), principal.service_options);
}

/** A host as the web-proxy policy feed needs it. */
export interface WebHostRecord {
  id: string;
  /** The host's name, or its common_name when it has none. */
  name: string;
  /** Its WEB services only. */
  services: Array<{ address: string; port: number; allowed_domains: string[] }>;
  /** Every principal; `service_options` only when the principal overrides something. */
  principals: Array<{ principal: string; service_options?: ServiceOptionsOverride }>;
}

/**
 * Every enabled host (`disabled` = "FALSE") with at least one WEB service, in id order: one
 * query, driven by the host_services (service, host_id) index.
 */
export async function listWebHosts(db: Kysely<Tables>): Promise<WebHostRecord[]> {
  const rows = await db
    .selectFrom('hosts')
    .select(['hosts.id', 'hosts.name', 'hosts.common_name', 'hosts.document'])
    .where('hosts.disabled', '=', 'FALSE')
    .where('hosts.id', 'in', db.selectFrom('host_services').select('host_services.host_id').where('host_services.service', '=', 'WEB'))
    .orderBy('hosts.id')
    .execute();
  return rows.map((row) => {
    const document = JSON.parse(row.document) as HostDocument;
    return {
      id: row.id,
      name: row.name || row.common_name,
      services: document.services
        .filter((service) => service.service === 'WEB')
        .map((service) => ({ address: service.address, port: service.port, allowed_domains: [...(service.allowed_domains ?? [])] })),
      principals: document.principals.map((principal) =>
        principal.service_options ? { principal: principal.principal, service_options: principal.service_options } : { principal: principal.principal },
      ),
    };
  });
}

// ─── tags, resolve, deployment targets ────────────────────────────────────────────────────

/**
 * The distinct tags of all hosts, sorted, paged; `query` keeps those containing it
 * (case-insensitive). Read off the host_tags (tag, host_id) index.
 */
export async function listHostTags(
  db: Kysely<Tables>,
  page: { offset: number; limit: number; query?: string | undefined; descending: boolean },
): Promise<{ count: number; items: string[] }> {
  const query = page.query?.toLowerCase() ?? '';
  const pattern = `%${query.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
  const tags = db
    .selectFrom('host_tags')
    .select('host_tags.tag')
    .distinct()
    .$if(query !== '', (builder) => builder.where(sql<boolean>`lower(host_tags.tag) like ${pattern} escape '\\'`));
  const counted = await db
    .selectFrom(tags.as('tags'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const count = Number(counted.n);
  if (page.limit === 0 || page.offset >= count) return { count, items: [] };
  const rows = await tags
    .orderBy('host_tags.tag', page.descending ? 'desc' : 'asc')
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  return { count, items: rows.map((row) => row.tag) };
}

/**
 * The host a (service, address, port) names: a host with that service at that address (and port,
 * unless 0), else a host with that address among its `addresses` that offers the service. The
 * first by id when several do. Both reads are index ranges (host_services (address, port),
 * host_addresses (address, host_id)).
 */
export async function resolveHostId(db: Kysely<Tables>, service: string, address: string, port: number): Promise<string | undefined> {
  const lowered = address.toLowerCase();
  const byService = await db
    .selectFrom('host_services')
    .select('host_services.host_id')
    .where('host_services.address', '=', lowered)
    .$if(port > 0, (builder) => builder.where('host_services.port', '=', port))
    .where('host_services.service', '=', service)
    .orderBy('host_services.host_id')
    .limit(1)
    .executeTakeFirst();
  if (byService) return byService.host_id;
  const byAddress = await db
    .selectFrom('host_addresses')
    .select('host_addresses.host_id')
    .where('host_addresses.address', '=', lowered)
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('host_services')
          .select(sql.lit(1).as('one'))
          .whereRef('host_services.host_id', '=', 'host_addresses.host_id')
          .where('host_services.service', '=', service)
          .$if(port > 0, (builder) => builder.where('host_services.port', '=', port)),
      ),
    )
    .orderBy('host_addresses.host_id')
    .limit(1)
    .executeTakeFirst();
  return byAddress?.host_id;
}

/** {@link resolveHostId}'s host; 404 OBJECT_NOT_FOUND when none. */
export async function resolveHost(db: Kysely<Tables>, service: string, address: string, port: number): Promise<Host> {
  const id = await resolveHostId(db, service, address, port);
  if (id === undefined) throw notFound('host');
  return getHost(db, id);
}

/** A host's session host certificates: privgate issues none yet (404 for an unknown host). */
export async function listSessionHostCertificates(db: Kysely<Tables>, hostId: string): Promise<{ count: number; items: never[] }> {
  await getHost(db, hostId);
  return { count: 0, items: [] };
}

/**
 * The host a deployment describes: the one with its `external_id`, else its `instance_id`, else
 * its `common_name` (the first by id when several have it); undefined when none does.
 */
export async function findDeployedHostId(db: Kysely<Tables>, document: HostDocument): Promise<string | undefined> {
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const externalId = text(document.external_id);
  if (externalId) {
    const row = await db.selectFrom('hosts').select('hosts.id').where('hosts.external_id', '=', externalId).orderBy('hosts.id').limit(1).executeTakeFirst();
    if (row) return row.id;
  }
  const instanceId = text(document.instance_id);
  if (instanceId) {
    const row = await db
      .selectFrom('host_attributes')
      .select('host_attributes.host_id')
      .where('host_attributes.field', '=', 'instance_id')
      .where('host_attributes.value', '=', instanceId)
      .orderBy('host_attributes.host_id')
      .limit(1)
      .executeTakeFirst();
    if (row) return row.host_id;
  }
  const commonName = text(document.common_name);
  if (commonName) {
    const row = await db.selectFrom('hosts').select('hosts.id').where('hosts.common_name', '=', commonName).orderBy('hosts.id').limit(1).executeTakeFirst();
    if (row) return row.id;
  }
  return undefined;
}
