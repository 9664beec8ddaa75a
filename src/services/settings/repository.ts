import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { preparedQuery } from '../../db/index.js';
import { sinceLastCommit } from '../../fast-path/sync-reader.js';
import type { Tables } from '../../db/schema.js';
import { timestamp } from '../../lib/time.js';
import type { Principal } from '../../access.js';
import type { SettingsScope, SettingsSection } from './registry.js';

/**
 * Storage of settings sections, one row per (scope, section).
 *
 * Concurrency rule: every section has an integer `version` (0 = never written, the declared
 * default is in force). A write is a compare-and-swap on the version it read:
 * `update … set version = version + 1 … where version = <read>` (see compareAndSwapSection; what
 * a failed swap means is decided by the use case, changeSettings). Every read asks the database, so a write is visible to the next read on
 * every node: PostgreSQL reads the row; SQLite reads it again whenever the file's data version says
 * any connection has committed since (see readSectionNow). Only the JSON parse of the text last read
 * is reused.
 */

export interface SectionState {
  value: unknown;
  version: number;
  /** False while the section still holds its declared default (no row). */
  stored: boolean;
}

export interface SettingsActor {
  principal: Pick<Principal, 'type' | 'id' | 'name'>;
  at: Date;
}

/** An If-Match condition: any of these tags, or `*` (any current version). */
export type VersionCondition = readonly string[] | '*';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The stored value shaped by the defaults: keys the schema has gained since the value was
 * written take their default; keys it has lost are dropped.
 */
function withDefaults(defaults: unknown, stored: unknown): unknown {
  if (isPlainObject(defaults)) {
    const source = isPlainObject(stored) ? stored : {};
    const result: Record<string, unknown> = {};
    for (const [key, fallback] of Object.entries(defaults)) {
      result[key] = key in source ? withDefaults(fallback, source[key]) : withDefaults(fallback, undefined);
    }
    return result;
  }
  return stored === undefined ? defaults : stored;
}

/** An open section's value: the declared keys as shaped, plus the other top-level keys stored (kept, not acted on). */
function withOtherKeys(shaped: unknown, stored: unknown): unknown {
  if (!isPlainObject(shaped) || !isPlainObject(stored)) return shaped;
  const result: Record<string, unknown> = { ...shaped };
  for (const [key, value] of Object.entries(stored)) if (!(key in shaped)) result[key] = value;
  return result;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/**
 * The last stored text of each section and its shaped value. Only the parsing is remembered: the
 * stored text decides, so a write on another node shows on the next read here. The value is
 * frozen because every reader shares it.
 */
const parsed = new WeakMap<SettingsSection, { text: string | undefined; value: unknown }>();

function valueOf(section: SettingsSection, text: string | undefined): unknown {
  const cached = parsed.get(section);
  if (cached && cached.text === text) return cached.value;
  const stored = text === undefined ? undefined : (JSON.parse(text) as unknown);
  const value = deepFreeze(section.openKeys ? withOtherKeys(withDefaults(section.defaults, stored), stored) : withDefaults(section.defaults, stored));
  parsed.set(section, { text, value });
  return value;
}

function stateOf(section: SettingsSection, row: { value: string; version: number } | undefined): SectionState {
  if (!row) return { value: valueOf(section, undefined), version: 0, stored: false };
  return { value: valueOf(section, row.value), version: Number(row.version), stored: true };
}

const selectSection = preparedQuery((db, scope: string, section: string) =>
  db.selectFrom('settings').select(['value', 'version']).where('scope', '=', scope).where('section', '=', section),
);

/** Current value and version of one section. */
export async function readSection(db: Kysely<Tables>, scope: SettingsScope, section: SettingsSection): Promise<SectionState> {
  const [row] = await selectSection(db, scope.name, section.name);
  return stateOf(section, row);
}

/**
 * {@link readSection} without waiting where the database allows it (SQLite's read connection);
 * undefined where the caller must await {@link readSection} instead. Same freshness: the row is
 * read again whenever anything was committed since (see sinceLastCommit in src/fast-path).
 */
export function readSectionNow(db: Kysely<Tables>, scope: SettingsScope, section: SettingsSection): SectionState | undefined {
  return sinceLastCommit(db, section, () => {
    const rows = selectSection.now(db, scope.name, section.name);
    return rows && stateOf(section, rows[0]);
  });
}

/** Current values and versions of every section of a scope, in declaration order (one query). */
export async function readScope(db: Kysely<Tables>, scope: SettingsScope): Promise<Map<string, SectionState>> {
  const rows = await db.selectFrom('settings').select(['section', 'value', 'version']).where('scope', '=', scope.name).execute();
  const bySection = new Map(rows.map((row) => [row.section, row]));
  return new Map(scope.sections.map((section) => [section.name, stateOf(section, bySection.get(section.name))]));
}

/** The entity tag of some sections: their versions joined by `.` (one section: its version). */
export function versionTag(states: Iterable<SectionState>): string {
  return [...states].map((state) => String(state.version)).join('.');
}

/**
 * Stores a section's new value as a compare-and-swap on the version `previous` read: an update
 * `where version = <read>` of a stored section, an insert (no-op on conflict) of one still at its
 * default. Answers the new version, or undefined when another write got there first.
 */
export async function compareAndSwapSection(
  trx: Kysely<Tables>,
  scope: SettingsScope,
  section: SettingsSection,
  previous: SectionState,
  value: unknown,
  actor: SettingsActor,
): Promise<number | undefined> {
  const at = timestamp(actor.at);
  const json = JSON.stringify(value);
  const result = previous.stored
    ? await trx
        .updateTable('settings')
        .set({ value: json, version: sql<number>`version + 1`, updated: at, updated_by: actor.principal.id })
        .where('scope', '=', scope.name)
        .where('section', '=', section.name)
        .where('version', '=', previous.version)
        .executeTakeFirst()
        .then((update) => Number(update.numUpdatedRows))
    : await trx
        .insertInto('settings')
        .values({ scope: scope.name, section: section.name, value: json, version: 1, updated: at, updated_by: actor.principal.id })
        .onConflict((conflict) => conflict.columns(['scope', 'section']).doNothing())
        .executeTakeFirst()
        .then((insert) => Number(insert.numInsertedOrUpdatedRows ?? 0));
  return result === 1 ? previous.version + 1 : undefined;
}

/** Parses an `If-Match` header: entity tags (quoted, optionally weak) or `*`; undefined when absent. */
export function parseIfMatch(header: string | string[] | undefined): VersionCondition | undefined {
  const text = (Array.isArray(header) ? header.join(',') : header)?.trim();
  if (!text) return undefined;
  if (text === '*') return '*';
  return text
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'))
    .filter((tag) => tag.length > 0);
}

/** The `ETag` header value for a tag. */
export function formatEtag(tag: string): string {
  return `"${tag}"`;
}
