import { sql, type Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import { resolveEffectiveServiceOptions, type EffectiveServiceOptions, type ServiceOptions, type ServiceOptionsOverride } from '../../lib/service-options.js';
import { timestamp } from '../../lib/time.js';
import type { Principal } from '../../access.js';
import { DEFAULT_ACCESS_GROUP_ID } from '../authorizer/access-group-repository.js';
import { findScope, findSection, type SettingsScope, type SettingsSection } from '../settings/registry.js';
import { readSection, readSectionNow, type SectionState } from '../settings/repository.js';
import { SERVER_FIELDS, type Host, type HostDocument } from './host-document.js';
import { hostGrams, searchText } from './search-terms.js';

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
    id: row.id,
    ...document,
    access_group_id: row.access_group_id ?? DEFAULT_ACCESS_GROUP_ID,
    created: row.created,
    updated: row.updated,
    updated_by: row.updated_by,
    author: row.author,
  };
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
  };
}

/** Rewrites a host's rows in the index tables from its document. */
async function writeIndexRows(db: Kysely<Tables>, id: string, document: HostDocument): Promise<void> {
  const rows = hostIndexRows(id, document);
  for (const table of ['host_services', 'host_principals', 'host_tags', 'host_addresses', 'host_search_grams'] as const) {
    await db.deleteFrom(table).where('host_id', '=', id).execute();
  }
  await insertChunked(db, 'host_services', rows.host_services);
  await insertChunked(db, 'host_principals', rows.host_principals);
  await insertChunked(db, 'host_tags', rows.host_tags);
  await insertChunked(db, 'host_addresses', rows.host_addresses);
  await insertChunked(db, 'host_search_grams', rows.host_search_grams);
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
  return withoutServerFields(await getHost(trx, id));
}

function withoutServerFields(host: Host): HostDocument {
  const document: Record<string, unknown> = { ...host };
  for (const field of SERVER_FIELDS) delete document[field];
  return document as HostDocument;
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

/** Deletes a (locked) host (its index rows go with it) and uncounts it; call in the change's transaction. */
export async function removeHost(trx: Kysely<Tables>, id: string): Promise<void> {
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
