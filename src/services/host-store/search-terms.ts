/**
 * Keyword matching for the host search: case-insensitive substrings of a host's name,
 * common_name, external_id and addresses. A host's searchable values are stored lower-cased
 * (one per line) together with their trigrams; a keyword of three or more characters first
 * selects candidates through the trigram index, then the exact substring check confirms them.
 */

const GRAM_LENGTH = 3;
/** More grams narrow the candidates further but cost one index range each. */
const MAX_QUERY_GRAMS = 8;
const MAX_TERMS = 10;

export interface SearchableHost {
  name?: string | undefined;
  common_name?: string | undefined;
  external_id?: string | undefined;
  addresses: readonly string[];
}

function searchableValues(host: SearchableHost): string[] {
  return [host.name, host.common_name, host.external_id, ...host.addresses]
    .filter((value): value is string => typeof value === 'string' && value.length > 0)
    .map((value) => value.toLowerCase());
}

/** The stored text the substring check runs against. */
export function searchText(host: SearchableHost): string {
  return searchableValues(host).join('\n');
}

function gramsOf(value: string): string[] {
  const characters = Array.from(value);
  const grams: string[] = [];
  for (let index = 0; index + GRAM_LENGTH <= characters.length; index += 1) {
    grams.push(characters.slice(index, index + GRAM_LENGTH).join(''));
  }
  return grams;
}

/** Every distinct trigram of a host's searchable values (a gram never spans two values). */
export function hostGrams(host: SearchableHost): string[] {
  const grams = new Set<string>();
  for (const value of searchableValues(host)) for (const gram of gramsOf(value)) grams.add(gram);
  return [...grams];
}

export interface SearchTerm {
  /** Lower-cased keyword. */
  text: string;
  /** LIKE pattern (with `\` escapes) matching the keyword anywhere. */
  pattern: string;
  /** Trigrams a matching host must have; empty for keywords under three characters. */
  grams: string[];
}

/**
 * Splits the `keywords` string on whitespace and commas; a host matches when it matches every
 * term. Control characters are dropped (the stored text separates values with newlines).
 */
export function parseKeywords(keywords: string | undefined): SearchTerm[] {
  if (!keywords) return [];
  const texts = keywords
    .toLowerCase()
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .split(/[\s,]+/)
    .filter((text) => text.length > 0);
  return [...new Set(texts)].slice(0, MAX_TERMS).map((text) => {
    const all = [...new Set(gramsOf(text))];
    // Spread the chosen grams over the keyword rather than taking a prefix.
    const grams = all.length <= MAX_QUERY_GRAMS ? all : Array.from({ length: MAX_QUERY_GRAMS }, (_, index) => all[Math.floor((index * all.length) / MAX_QUERY_GRAMS)] as string);
    return { text, pattern: `%${text.replace(/[\\%_]/g, (character) => `\\${character}`)}%`, grams: [...new Set(grams)] };
  });
}

/** The host fields indexed as (field, value) rows in host_attributes, each a HostSearch filter. */
export const ATTRIBUTE_FIELDS = [
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
  'scope',
  'role',
  'port',
  'deployable',
  'status',
] as const;
export type AttributeField = (typeof ATTRIBUTE_FIELDS)[number];

const STRING_ATTRIBUTES = [
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
] as const satisfies readonly AttributeField[];

/**
 * The longest value indexed, in UTF-8 bytes: PostgreSQL's b-tree keys must stay under ~2.7 kB.
 * The host schema keeps every indexed field within it (at most 500 characters).
 */
const MAX_ATTRIBUTE_BYTES = 2000;

/**
 * A host's (field, value) rows for host_attributes: its string fields as sent, each `scope`
 * entry, each principal's role ids, each service's port, and `deployable` = "true" when set.
 * Values match exactly (case-sensitive), like tags. `status` is server-kept and privgate reports
 * none yet, so no host has a status row. (Migration 0014 backfills with a frozen copy of this.)
 */
export function hostAttributes(document: Record<string, unknown>): Array<{ field: AttributeField; value: string }> {
  const rows = new Map<string, { field: AttributeField; value: string }>();
  const add = (field: AttributeField, value: unknown) => {
    const text = typeof value === 'number' ? String(value) : value;
    if (typeof text !== 'string' || text === '' || Buffer.byteLength(text, 'utf8') > MAX_ATTRIBUTE_BYTES) return;
    rows.set(`${field}\n${text}`, { field, value: text });
  };
  for (const field of STRING_ATTRIBUTES) add(field, document[field]);
  if (Array.isArray(document.scope)) for (const scope of document.scope) add('scope', scope);
  if (Array.isArray(document.principals)) {
    for (const principal of document.principals as Array<Record<string, unknown> | null>) {
      if (Array.isArray(principal?.roles)) for (const role of principal.roles as Array<Record<string, unknown> | null>) add('role', role?.id);
    }
  }
  if (Array.isArray(document.services)) for (const service of document.services as Array<Record<string, unknown> | null>) add('port', service?.port);
  if (document.deployable === true) add('deployable', 'true');
  return [...rows.values()];
}
