import crypto from 'node:crypto';
import { sql, type ExpressionBuilder, type Insertable, type Kysely, type SqlBool } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { timestamp } from '../../lib/time.js';
import { classify } from './event-codes.js';

/**
 * An audit event as the API shows it; absent values are left out rather than null. The first
 * six fields are the PrivX SDK's `AuditEvent` (event_id a decimal string, message a string map);
 * the rest are privgate's own and stay as they were.
 */
export interface AuditEventView {
  service_id: string;
  service_name: string;
  event_id: string;
  event_name: string;
  message: Record<string, string>;
  id: string;
  created: string;
  type: string;
  outcome: string;
  principal_type?: string;
  principal_id?: string;
  principal_name?: string;
  source_address?: string;
  object_type?: string;
  object_id?: string;
  details: Record<string, unknown>;
  reporter: string;
}

export interface AuditEventFilter {
  type?: string | undefined;
  outcome?: string | undefined;
  principal_id?: string | undefined;
  object_id?: string | undefined;
  reporter?: string | undefined;
  /** Inclusive lower bound (RFC 3339). */
  from?: Date | undefined;
  /** Exclusive upper bound (RFC 3339). */
  to?: Date | undefined;
  /** Every word must occur (case-insensitively) in the type, principal, address, object or details. */
  keywords?: readonly string[] | undefined;
  /** Principal ids or names, any of. */
  users?: readonly string[] | undefined;
  /** Stored types, any of; an empty list matches nothing. */
  types?: readonly string[] | undefined;
  /**
   * Objects the event is about: each matches an event whose object is of `objectType` with that
   * id, or whose details hold `detailKey` with that id. All given must match.
   */
  objects?: ReadonlyArray<{ objectType: string | undefined; detailKey: string; id: string }> | undefined;
}

/** The columns a list may be sorted by (`sortkey`), and the column each reads. */
export const AUDIT_SORT_KEYS = {
  created: 'created',
  event_name: 'type',
  type: 'type',
  outcome: 'outcome',
  service_id: 'reporter',
  reporter: 'reporter',
  principal_id: 'principal_id',
  principal_name: 'principal_name',
  source_address: 'source_address',
} as const;
export type AuditSortKey = keyof typeof AUDIT_SORT_KEYS;

export interface AuditEventPage {
  offset: number;
  limit: number;
  sortkey: AuditSortKey;
  descending: boolean;
}

type Row = Tables['audit_events'];

function view(row: Omit<Row, 'seq'>): AuditEventView {
  let details: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(row.details);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) details = parsed as Record<string, unknown>;
  } catch {
    // A damaged row still lists; its details are dropped.
  }
  const code = classify(row.type, row.reporter);
  const event: AuditEventView = {
    service_id: row.reporter,
    service_name: code.service,
    event_id: String(code.event_id),
    event_name: code.event_name,
    message: message(row, details),
    id: row.id,
    created: row.created,
    type: row.type,
    outcome: row.outcome,
    details,
    reporter: row.reporter,
  };
  if (row.principal_type !== null) event.principal_type = row.principal_type;
  if (row.principal_id !== null) event.principal_id = row.principal_id;
  if (row.principal_name !== null) event.principal_name = row.principal_name;
  if (row.source_address !== null) event.source_address = row.source_address;
  if (row.object_type !== null) event.object_type = row.object_type;
  if (row.object_id !== null) event.object_id = row.object_id;
  return event;
}

/**
 * The SDK's `message` (a string map): who (`user_id`, `user_name`, `user_type`), from where
 * (`client_address`), what (`type`, `outcome`, `object_type`, `object_id`), then every detail
 * field, strings as they are and other values as JSON. A detail key that would shadow one of
 * those is given as `details.<key>`.
 */
function message(row: Omit<Row, 'seq'>, details: Record<string, unknown>): Record<string, string> {
  const fixed: Record<string, string | null> = {
    type: row.type,
    outcome: row.outcome,
    user_id: row.principal_id,
    user_name: row.principal_name,
    user_type: row.principal_type,
    client_address: row.source_address,
    object_type: row.object_type,
    object_id: row.object_id,
  };
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(details)) {
    if (value === undefined) continue;
    out[key in fixed ? `details.${key}` : key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  for (const [key, value] of Object.entries(fixed)) if (value !== null) out[key] = value;
  return out;
}

type AuditConditions = ExpressionBuilder<Tables, 'audit_events'>;

/** `value` as a LIKE pattern matching it anywhere (with `\` escapes). */
function containing(value: string): string {
  return `%${value.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
}

/** The events matching `filter` (every condition given must hold). */
function filtered(db: Kysely<Tables>, filter: AuditEventFilter) {
  let query = db.selectFrom('audit_events');
  if (filter.type !== undefined) query = query.where('type', '=', filter.type);
  if (filter.outcome !== undefined) query = query.where('outcome', '=', filter.outcome);
  if (filter.principal_id !== undefined) query = query.where('principal_id', '=', filter.principal_id);
  if (filter.object_id !== undefined) query = query.where('object_id', '=', filter.object_id);
  if (filter.reporter !== undefined) query = query.where('reporter', '=', filter.reporter);
  if (filter.from !== undefined) query = query.where('created', '>=', timestamp(filter.from));
  if (filter.to !== undefined) query = query.where('created', '<', timestamp(filter.to));
  if (filter.types !== undefined) {
    const types = [...filter.types];
    query = types.length === 0 ? query.where(sql<SqlBool>`1 = 0`) : query.where('type', 'in', types);
  }
  if (filter.users !== undefined && filter.users.length > 0) {
    const users = [...filter.users];
    query = query.where((eb) => eb.or([eb('principal_id', 'in', users), eb('principal_name', 'in', users)]));
  }
  for (const word of filter.keywords ?? []) {
    const pattern = containing(word.toLowerCase());
    const like = (eb: AuditConditions, column: 'type' | 'principal_name' | 'principal_id' | 'source_address' | 'object_id' | 'details') =>
      sql<SqlBool>`lower(${eb.ref(column)}) like ${pattern} escape '\\'`;
    query = query.where((eb) => eb.or([like(eb, 'type'), like(eb, 'principal_name'), like(eb, 'principal_id'), like(eb, 'source_address'), like(eb, 'object_id'), like(eb, 'details')]));
  }
  for (const object of filter.objects ?? []) {
    // Details are stored as compact JSON (JSON.stringify), so a field reads exactly like this.
    const inDetails = containing(`${JSON.stringify(object.detailKey)}:${JSON.stringify(object.id)}`);
    const objectType = object.objectType;
    query = query.where((eb) => {
      const inDetailsCondition = sql<SqlBool>`${eb.ref('details')} like ${inDetails} escape '\\'`;
      if (objectType === undefined) return inDetailsCondition;
      return eb.or([eb.and([eb('object_type', '=', objectType), eb('object_id', '=', object.id)]), inDetailsCondition]);
    });
  }
  return query;
}

/** Audit events matching `filter`, in the page's order (ties broken by insertion order, same direction). */
export async function listAuditEvents(db: Kysely<Tables>, filter: AuditEventFilter, page: AuditEventPage): Promise<{ count: number; items: AuditEventView[] }> {
  const query = filtered(db, filter);
  const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const direction = page.descending ? 'desc' : 'asc';
  let rows = query.select(['id', 'created', 'type', 'outcome', 'principal_type', 'principal_id', 'principal_name', 'source_address', 'object_type', 'object_id', 'details', 'reporter']);
  rows = rows.orderBy(AUDIT_SORT_KEYS[page.sortkey], direction);
  if (page.sortkey !== 'created') rows = rows.orderBy('created', direction);
  const found = await rows.orderBy('seq', direction).offset(page.offset).limit(page.limit).execute();
  return { count: Number(total.n), items: found.map(view) };
}

/** Whether the database answers a trivial query (for the health endpoints). */
export async function databaseReachable(db: Kysely<Tables>): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}

/** A data-plane component known from the database: a trusted client that has registered. */
export interface RegisteredComponent {
  id: string;
  type: string;
  name: string;
}

/** The registered trusted clients (web proxies, extenders, carriers, …), by name. */
export async function registeredComponents(db: Kysely<Tables>): Promise<RegisteredComponent[]> {
  return db.selectFrom('trusted_clients').select(['id', 'type', 'name']).where('registered', '=', 1).orderBy('name').orderBy('id').execute();
}

/** One event reported by a data-plane component (already validated). */
export interface IngestedEvent {
  type: string;
  outcome: string;
  at: Date;
  principal?: { type: string; id: string; name: string | null } | undefined;
  sourceAddress?: string | undefined;
  objectType?: string | undefined;
  objectId?: string | undefined;
  details: Record<string, unknown>;
}

/** An event as stored: what services report (audit-log.ts) and what data planes send in a batch. */
export interface AuditEventRecord {
  type: string;
  outcome: string;
  at: Date;
  principal?: { type: string; id: string; name: string | null } | undefined;
  sourceAddress?: string | undefined;
  objectType?: string | undefined;
  objectId?: string | undefined;
  details?: Record<string, unknown>;
}

/** The stored row of an event (a fresh id, JSON details); shared by single and batch inserts. */
function auditEventRow(event: AuditEventRecord, reporter: string): Insertable<Tables['audit_events']> & { id: string } {
  return {
    id: crypto.randomUUID(),
    created: timestamp(event.at),
    type: event.type,
    outcome: event.outcome,
    principal_type: event.principal?.type ?? null,
    principal_id: event.principal?.id ?? null,
    principal_name: event.principal?.name ?? null,
    source_address: event.sourceAddress ?? null,
    object_type: event.objectType ?? null,
    object_id: event.objectId ?? null,
    details: JSON.stringify(event.details ?? {}),
    reporter,
  };
}

/** Appends one event; returns its id. */
export async function insertAuditEvent(db: Kysely<Tables>, event: AuditEventRecord, reporter: string): Promise<string> {
  const row = auditEventRow(event, reporter);
  await db.insertInto('audit_events').values(row).execute();
  return row.id;
}

// 12 values per row; 100 rows keeps every statement well under SQLite's parameter limit.
const INSERT_CHUNK = 100;

/** Appends a batch of events in one transaction (all or nothing); returns their ids. */
export async function insertAuditEvents(db: Kysely<Tables>, reporter: string, events: readonly IngestedEvent[]): Promise<string[]> {
  const rows = events.map((event) => auditEventRow(event, reporter));
  if (rows.length === 0) return [];
  await db.transaction().execute(async (trx) => {
    for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
      await trx.insertInto('audit_events').values(rows.slice(start, start + INSERT_CHUNK)).execute();
    }
  });
  return rows.map((row) => row.id);
}

/** A stored event with its insertion number, for the export poller. */
export interface SequencedAuditEvent {
  seq: number;
  event: AuditEventView;
}

/** Up to `limit` events inserted after `seq`, in insertion order (export/exporter.ts). */
export async function auditEventsAfter(db: Kysely<Tables>, seq: number, limit: number): Promise<SequencedAuditEvent[]> {
  const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>', seq).orderBy('seq', 'asc').limit(limit).execute();
  return rows.map((row) => ({ seq: Number(row.seq), event: view(row) }));
}

/** The export cursor stored under `key` in `meta` (the last delivered `seq`); 0 when none. */
export async function readExportCursor(db: Kysely<Tables>, key: string): Promise<number> {
  const row = await db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
  const value = row === undefined ? 0 : Number(row.value);
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

/** Stores the export cursor under `key` in `meta`. */
export async function writeExportCursor(db: Kysely<Tables>, key: string, seq: number): Promise<void> {
  await db
    .insertInto('meta')
    .values({ key, value: String(seq) })
    .onConflict((conflict) => conflict.column('key').doUpdateSet({ value: String(seq) }))
    .execute();
}
