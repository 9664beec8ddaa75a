import { sql, type Expression, type ExpressionBuilder, type Kysely, type SelectQueryBuilder, type SqlBool } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import { resolveEffectiveServiceOptions, type EffectiveServiceOptions, type ServiceOptions, type ServiceOptionsOverride } from '../../lib/service-options.js';
import { timestamp } from '../../lib/time.js';
import type { Principal } from '../auth/principal.js';
import { findScope, findSection, type SettingsScope, type SettingsSection } from '../settings/registry.js';
import { readSection, readSectionNow, type SectionState } from '../settings/repository.js';
import { SERVER_FIELDS, type Host, type HostDocument } from './host-document.js';
import type { HostSortKey, ServiceType } from './schemas.js';
import { hostGrams, parseKeywords, searchText } from './search-terms.js';

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

type HostRow = Pick<Tables['hosts'], 'id' | 'document' | 'created' | 'updated' | 'updated_by' | 'author'>;
const HOST_COLUMNS = ['hosts.id', 'hosts.document', 'hosts.created', 'hosts.updated', 'hosts.updated_by', 'hosts.author'] as const;

function toHost(row: HostRow): Host {
  const document = JSON.parse(row.document) as HostDocument;
  return { id: row.id, ...document, created: row.created, updated: row.updated, updated_by: row.updated_by, author: row.author };
}

export async function getHost(db: Kysely<Tables>, id: string): Promise<Host> {
  const row = await db.selectFrom('hosts').select(HOST_COLUMNS).where('hosts.id', '=', id).executeTakeFirst();
  if (!row) throw notFound('host');
  return toHost(row);
}

export interface HostFilter {
  keywords?: string | undefined;
  /** Any of these services. */
  services?: readonly ServiceType[] | undefined;
  /** Every one of these tags. */
  tags?: readonly string[] | undefined;
}

export interface HostPage {
  offset: number;
  limit: number;
  sortkey: HostSortKey;
  descending: boolean;
}

/**
 * A filtered page sorts its matches, when there are at most `sortMatchesMax`, rather than walk the
 * sort index (see listHosts). Tests lower it to check that both ways give the same pages.
 */
export const pageStrategy = { sortMatchesMax: 20_000 };

/** Postings of an index range are counted up to this many; a range reaching it counts as common. */
const COMMON_POSTINGS = 2_000;
/** Rare grams intersected per term; one or two usually leave a handful of candidates. */
const RARE_GRAMS = 3;

/** How many rows `query` answers, counted up to `cap` (a bounded, index-only read). */
async function cappedCount<T extends keyof Tables>(db: Kysely<Tables>, query: SelectQueryBuilder<Tables, T, { host_id: string }>, cap: number): Promise<number> {
  const row = await db
    .selectFrom(query.limit(cap).as('postings'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Keyword terms with the trigrams chosen to narrow each one (see {@link planKeywords}). */
interface PlannedTerm {
  pattern: string;
  grams: string[];
  /** Hosts the grams let through at most ({@link COMMON_POSTINGS} when common; Infinity without grams). */
  postings: number;
}

/**
 * Chooses, per keyword, the trigrams whose index ranges to intersect. Intersecting every gram of
 * a keyword costs the sum of their postings, and grams such as "com" or "hos" are in almost every
 * host; so each gram's postings are counted up to {@link COMMON_POSTINGS} (a bounded index-only
 * read) and only the rarest few are used. When every gram is common the keyword matches many hosts
 * anyway: its first and last grams narrow the candidates and the substring check does the rest.
 */
async function planKeywords(db: Kysely<Tables>, keywords: string | undefined): Promise<PlannedTerm[]> {
  const planned: PlannedTerm[] = [];
  for (const term of parseKeywords(keywords)) {
    const estimates: Array<{ gram: string; postings: number }> = [];
    for (const gram of term.grams) {
      const postings = await cappedCount(db, db.selectFrom('host_search_grams').select('host_search_grams.host_id').where('host_search_grams.gram', '=', gram), COMMON_POSTINGS);
      estimates.push({ gram, postings });
      // A gram no host has: nothing can match, and that gram alone proves it.
      if (postings === 0) break;
    }
    if (estimates.length === 0) {
      planned.push({ pattern: term.pattern, grams: [], postings: Infinity });
      continue;
    }
    const rare = estimates.filter((estimate) => estimate.postings < COMMON_POSTINGS).sort((a, b) => a.postings - b.postings);
    const grams = rare.length > 0 ? rare.slice(0, RARE_GRAMS).map((estimate) => estimate.gram) : [term.grams[0] as string, term.grams[term.grams.length - 1] as string];
    planned.push({ pattern: term.pattern, grams: [...new Set(grams)], postings: rare[0]?.postings ?? COMMON_POSTINGS });
  }
  return planned;
}

type HostConditions = ExpressionBuilder<Tables, 'hosts'>;

/**
 * One filter condition in two equivalent forms: `drive`, `hosts.id IN (…)` read from the
 * condition's index (the rows the query starts from), and `probe`, correlated EXISTS checks of a
 * candidate host through the same index. `check` is what holds in either form (a keyword's exact
 * substring test).
 */
interface FilterCondition {
  /** Hosts the condition lets through at most, counted up to {@link COMMON_POSTINGS}; Infinity when it has no index. */
  postings: number;
  drive?: (eb: HostConditions) => Expression<SqlBool>;
  probe?: (eb: HostConditions) => Expression<SqlBool>;
  check?: (eb: HostConditions) => Expression<SqlBool>;
  /**
   * The number of hosts this condition alone lets through, read off its own index (every index row
   * belongs to a host: foreign keys, cascading deletes); used when it is the filter's only condition.
   */
  countAlone?: () => Promise<number>;
}

/** Distinct hosts among `host_id`s, as a number. */
async function countHosts(query: SelectQueryBuilder<Tables, keyof Tables, { host_id: string }>): Promise<number> {
  const row = await query.clearSelect().select((eb) => eb.fn.count<number>('host_id').distinct().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * The filter's conditions with their (capped) posting counts: services and tags through their
 * (value, host_id) indexes, keywords through the trigram index (three or more characters) and then
 * the exact substring check. Counts stop at the smallest seen so far: only the most selective
 * condition matters, and that keeps every count a short index-only read.
 */
async function filterConditions(db: Kysely<Tables>, filter: HostFilter): Promise<FilterCondition[]> {
  const conditions: FilterCondition[] = [];
  const smallest = () => Math.min(COMMON_POSTINGS, ...conditions.map((condition) => condition.postings));
  for (const tag of new Set(filter.tags ?? [])) {
    const tagged = db.selectFrom('host_tags').select('host_tags.host_id').where('host_tags.tag', '=', tag);
    conditions.push({
      postings: await cappedCount(db, tagged, smallest()),
      drive: (eb) => eb('hosts.id', 'in', tagged),
      probe: (eb) => eb.exists(eb.selectFrom('host_tags').select(sql.lit(1).as('one')).whereRef('host_tags.host_id', '=', 'hosts.id').where('host_tags.tag', '=', tag)),
      countAlone: () => countHosts(tagged),
    });
  }
  if (filter.services && filter.services.length > 0) {
    const services = [...new Set(filter.services)];
    const offering = db.selectFrom('host_services').select('host_services.host_id').where('host_services.service', 'in', services);
    conditions.push({
      postings: await cappedCount(db, offering, smallest()),
      drive: (eb) => eb('hosts.id', 'in', offering),
      probe: (eb) =>
        eb.exists(eb.selectFrom('host_services').select(sql.lit(1).as('one')).whereRef('host_services.host_id', '=', 'hosts.id').where('host_services.service', 'in', services)),
      countAlone: () => countHosts(offering),
    });
  }
  for (const term of await planKeywords(db, filter.keywords)) {
    const check = (eb: HostConditions) => sql<SqlBool>`${eb.ref('hosts.search_text')} like ${term.pattern} escape '\\'`;
    if (term.grams.length === 0) {
      conditions.push({ postings: Infinity, check });
      continue;
    }
    const grams = term.grams;
    const candidates =
      grams.length === 1
        ? db.selectFrom('host_search_grams').select('host_search_grams.host_id').where('host_search_grams.gram', '=', grams[0] as string)
        : db
            .selectFrom('host_search_grams')
            .select('host_search_grams.host_id')
            .where('host_search_grams.gram', 'in', grams)
            .groupBy('host_search_grams.host_id')
            .having((having) => having.fn.countAll(), '=', grams.length);
    conditions.push({
      postings: term.postings,
      drive: (eb) => eb('hosts.id', 'in', candidates),
      probe: (eb) =>
        eb.and(
          grams.map((gram) =>
            eb.exists(eb.selectFrom('host_search_grams').select(sql.lit(1).as('one')).whereRef('host_search_grams.host_id', '=', 'hosts.id').where('host_search_grams.gram', '=', gram)),
          ),
        ),
      check,
    });
  }
  return conditions;
}

/**
 * The WHERE clause of a filtered list. The most selective condition drives: its index range is
 * the candidate set (`hosts.id IN (…)`), and every other condition is a correlated EXISTS probe of
 * each candidate — SQLite, which has no statistics, otherwise starts from whichever IN list comes
 * first and reads every host with a common service. Without a drivable condition (only keywords
 * under three characters) the hosts are scanned. PostgreSQL turns either form into a semi-join
 * and plans it by its statistics.
 */
function whereFilter(conditions: readonly FilterCondition[]): (eb: HostConditions) => Expression<SqlBool> {
  let driver: FilterCondition | undefined;
  for (const condition of conditions) {
    if (condition.drive && (!driver || condition.postings < driver.postings)) driver = condition;
  }
  return (eb) =>
    eb.and(
      conditions.flatMap((condition) => {
        const index = condition === driver ? condition.drive : condition.probe;
        return [index?.(eb), condition.check?.(eb)].filter((expression): expression is Expression<SqlBool> => expression !== undefined);
      }),
    );
}

/**
 * A page of hosts and the number of hosts matching. Unfiltered, the count is the host_count
 * counter; filtered, a count over the conditions (see {@link whereFilter}). Either way the page is
 * sorted and cut on ids alone — a walk of the sort key's (key, id) index, index-only on PostgreSQL
 * after VACUUM, however deep the offset; or, for a filter with at most
 * `pageStrategy.sortMatchesMax` matches, a sort of just the matches' ids and keys — and only that
 * page's documents are then fetched by primary key.
 */
export async function listHosts(db: Kysely<Tables>, filter: HostFilter, page: HostPage): Promise<{ count: number; items: Host[] }> {
  const direction = page.descending ? 'desc' : 'asc';
  const conditions = await filterConditions(db, filter);
  const matching = conditions.length > 0 ? db.selectFrom('hosts').where(whereFilter(conditions)) : db.selectFrom('hosts');
  // The count is its own query: with the page's LIMIT beside it (a window count), PostgreSQL plans
  // a walk of the whole sort index.
  const countAlone = conditions.length === 1 ? conditions[0]?.countAlone : undefined;
  const count =
    conditions.length === 0
      ? Number((await db.selectFrom('counters').select('value').where('name', '=', 'host_count').executeTakeFirst())?.value ?? 0)
      : countAlone
        ? await countAlone()
        : Number((await matching.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  if (page.limit === 0 || (conditions.length > 0 && page.offset >= count)) return { count, items: [] };
  // Few matches: sort them. Walking the sort index instead reads hosts until the page is full,
  // which for matches that sort late is most of the table (PostgreSQL plans that walk whenever the
  // matches are a fair share of all hosts, and cannot know where in the order they fall).
  const pageRows =
    conditions.length > 0 && count <= pageStrategy.sortMatchesMax
      ? await db
          .with(
            (cte) => cte('matched').materialized(),
            () => matching.select((eb) => ['hosts.id', eb.ref(`hosts.${page.sortkey}`).as('sortvalue')]),
          )
          .selectFrom('matched')
          .select('matched.id')
          .orderBy('matched.sortvalue', direction)
          .orderBy('matched.id', direction)
          .limit(page.limit)
          .offset(page.offset)
          .execute()
      : await matching
          .select('hosts.id')
          .orderBy(`hosts.${page.sortkey}`, direction)
          .orderBy('hosts.id', direction)
          .limit(page.limit)
          .offset(page.offset)
          .execute();
  if (pageRows.length === 0) return { count, items: [] };
  const rows = await db.selectFrom('hosts').select(HOST_COLUMNS).where('hosts.id', 'in', pageRows.map((row) => row.id)).execute();
  const byId = new Map(rows.map((row) => [row.id, row]));
  // A host deleted between the two reads is simply left out of the page.
  const items = pageRows.map((row) => byId.get(row.id)).filter((row): row is HostRow => row !== undefined).map(toHost);
  return { count, items };
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
