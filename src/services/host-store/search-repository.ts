/**
 * Host search: the filtered, sorted, paged host list behind `GET /hosts` and `POST /hosts/search`.
 * A repository module (all of its SQL is here); the rows it returns are read and shaped by
 * repository.ts's host reader, and the index tables it reads are written there.
 */
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SelectQueryBuilder, type SqlBool } from 'kysely';
import type { Tables } from '../../db/schema.js';
import type { Host } from './host-document.js';
import { HOST_COLUMNS, toHost, type HostRow } from './repository.js';
import type { HostSearch, HostSortKey, ServiceType } from './schemas.js';
import { parseKeywords, type AttributeField } from './search-terms.js';

export interface HostFilter {
  keywords?: string | undefined;
  /** Any of these services. */
  services?: readonly ServiceType[] | undefined;
  /** Every one of these tags. */
  tags?: readonly string[] | undefined;
  /** Host columns, each any of its values: id (primary key), common_name, external_id, access_group_id (their indexes). */
  columns?: ReadonlyArray<{ column: 'id' | 'common_name' | 'external_id' | 'access_group_id'; values: readonly string[] }> | undefined;
  /** Any of these addresses (case-insensitive; the host_addresses index). */
  addresses?: readonly string[] | undefined;
  /** Any of these principal (account) names (the host_principals index). */
  principals?: readonly string[] | undefined;
  /** host_attributes fields, each any of its values (the (field, value, host_id) index). */
  attributes?: ReadonlyArray<{ field: AttributeField; values: readonly string[] }> | undefined;
}

/** Values of a list filter: null, missing or empty = no filter. */
function listed(values: readonly string[] | null | undefined): string[] {
  return [...new Set(values ?? [])];
}

/** A string filter: empty or missing = no filter (the SDK's omitempty). */
function single(value: string | undefined): string[] {
  return value === undefined || value === '' ? [] : [value];
}

/**
 * The search body (the SDK's HostSearch) as a {@link HostFilter}. Every filter is an index range
 * (see filterConditions); `ignore_disabled_sources` changes nothing (privgate has no host sources).
 */
export function toHostFilter(body: HostSearch): HostFilter {
  const services = body.service === undefined || body.service === null ? [] : Array.isArray(body.service) ? body.service : [body.service];
  const columns = (
    [
      { column: 'id', values: single(body.id) },
      { column: 'common_name', values: listed(body.common_name) },
      { column: 'external_id', values: single(body.external_id) },
      { column: 'access_group_id', values: listed(body.access_group_ids) },
    ] as const
  ).filter((condition) => condition.values.length > 0);
  const attributes = (
    [
      { field: 'instance_id', values: single(body.instance_id) },
      { field: 'source_id', values: single(body.source_id) },
      { field: 'distinguished_name', values: listed(body.distinguished_name) },
      { field: 'organization', values: listed(body.organization) },
      { field: 'organizational_unit', values: listed(body.organizational_unit) },
      { field: 'zone', values: listed(body.zone) },
      { field: 'host_type', values: listed(body.host_type) },
      { field: 'host_classification', values: listed(body.host_classification) },
      { field: 'role', values: listed(body.role) },
      { field: 'scope', values: listed(body.scope) },
      { field: 'cloud_provider', values: listed(body.cloud_providers) },
      { field: 'cloud_provider_region', values: listed(body.cloud_provider_regions) },
      { field: 'status', values: listed(body.statuses) },
      { field: 'port', values: listed((body.port ?? []).map(String)) },
      { field: 'deployable', values: body.deployable === true ? ['true'] : [] },
      // "" is Go's zero value: no filter.
      { field: 'disabled', values: single(body.disabled) },
    ] as const
  ).filter((condition) => condition.values.length > 0);
  return {
    keywords: body.keywords,
    services,
    tags: body.tags ?? [],
    columns,
    addresses: listed(body.address).map((address) => address.toLowerCase()),
    principals: listed(body.principal),
    attributes,
  };
}

export interface HostPage {
  offset: number;
  limit: number;
  sortkey: HostSortKey;
  descending: boolean;
}

/** {@link HostSearchOptions.sortMatchesMax} when the caller gives none. */
export const SORT_MATCHES_MAX = 20_000;

/** How {@link listHosts} pages. The default suits every caller; tests set it to force a plan. */
export interface HostSearchOptions {
  /**
   * A filtered page sorts its matches, when there are at most this many, rather than walk the
   * sort index (see {@link listHosts}). Default {@link SORT_MATCHES_MAX}; 0 always walks the index.
   */
  sortMatchesMax?: number;
}

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
 * (value, host_id) indexes; id, common_name, external_id and access group through the hosts
 * table's own indexes; addresses and principals through theirs; every other HostSearch field
 * through host_attributes' (field, value, host_id) key — so each filter is an index range and
 * none scans. Keywords go through the trigram index (three or more characters) and then
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
  for (const { column, values: listedValues } of filter.columns ?? []) {
    const values = [...listedValues];
    const having = db.selectFrom('hosts').select('hosts.id as host_id').where(`hosts.${column}`, 'in', values);
    conditions.push({
      postings: await cappedCount(db, having, smallest()),
      drive: (eb) => eb('hosts.id', 'in', having),
      // The candidate row itself: no second read. Wrapped so that no planner takes the column's
      // own index for the probe and drives the query from it: with `access_group_ids` naming the
      // default group, SQLite otherwise walked every host of that group (×44 at 100k hosts).
      probe: (eb) => eb(eb.fn.coalesce(`hosts.${column}`, sql.lit('')), 'in', values),
      countAlone: async () =>
        Number((await db.selectFrom('hosts').where(`hosts.${column}`, 'in', values).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n),
    });
  }
  const addresses = [...new Set(filter.addresses ?? [])];
  if (addresses.length > 0) {
    const at = db.selectFrom('host_addresses').select('host_addresses.host_id').where('host_addresses.address', 'in', addresses);
    conditions.push({
      postings: await cappedCount(db, at, smallest()),
      drive: (eb) => eb('hosts.id', 'in', at),
      probe: (eb) =>
        eb.exists(eb.selectFrom('host_addresses').select(sql.lit(1).as('one')).whereRef('host_addresses.host_id', '=', 'hosts.id').where('host_addresses.address', 'in', addresses)),
      countAlone: () => countHosts(at),
    });
  }
  const principals = [...new Set(filter.principals ?? [])];
  if (principals.length > 0) {
    const having = db.selectFrom('host_principals').select('host_principals.host_id').where('host_principals.principal', 'in', principals);
    conditions.push({
      postings: await cappedCount(db, having, smallest()),
      drive: (eb) => eb('hosts.id', 'in', having),
      probe: (eb) =>
        eb.exists(
          eb.selectFrom('host_principals').select(sql.lit(1).as('one')).whereRef('host_principals.host_id', '=', 'hosts.id').where('host_principals.principal', 'in', principals),
        ),
      countAlone: () => countHosts(having),
    });
  }
  for (const { field, values: listedValues } of filter.attributes ?? []) {
    const values = [...listedValues];
    const having = db.selectFrom('host_attributes').select('host_attributes.host_id').where('host_attributes.field', '=', field).where('host_attributes.value', 'in', values);
    conditions.push({
      postings: await cappedCount(db, having, smallest()),
      drive: (eb) => eb('hosts.id', 'in', having),
      probe: (eb) =>
        eb.exists(
          eb
            .selectFrom('host_attributes')
            .select(sql.lit(1).as('one'))
            .whereRef('host_attributes.host_id', '=', 'hosts.id')
            .where('host_attributes.field', '=', field)
            .where('host_attributes.value', 'in', values),
        ),
      countAlone: () => countHosts(having),
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
 * `options.sortMatchesMax` matches, a sort of just the matches' ids and keys — and only that
 * page's documents are then fetched by primary key.
 */
export async function listHosts(db: Kysely<Tables>, filter: HostFilter, page: HostPage, options: HostSearchOptions = {}): Promise<{ count: number; items: Host[] }> {
  const sortMatchesMax = options.sortMatchesMax ?? SORT_MATCHES_MAX;
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
    conditions.length > 0 && count <= sortMatchesMax
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
