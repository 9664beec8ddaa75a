import crypto from 'node:crypto';
import type { Insertable, Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { timestamp } from '../../lib/time.js';

/** An audit event as the API shows it; absent values are left out rather than null. */
export interface AuditEventView {
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
  const event: AuditEventView = { id: row.id, created: row.created, type: row.type, outcome: row.outcome, details, reporter: row.reporter };
  if (row.principal_type !== null) event.principal_type = row.principal_type;
  if (row.principal_id !== null) event.principal_id = row.principal_id;
  if (row.principal_name !== null) event.principal_name = row.principal_name;
  if (row.source_address !== null) event.source_address = row.source_address;
  if (row.object_type !== null) event.object_type = row.object_type;
  if (row.object_id !== null) event.object_id = row.object_id;
  return event;
}

/** Audit events matching `filter`, newest first (ties broken by insertion order). */
export async function listAuditEvents(db: Kysely<Tables>, filter: AuditEventFilter, offset: number, limit: number): Promise<{ count: number; items: AuditEventView[] }> {
  let query = db.selectFrom('audit_events');
  if (filter.type !== undefined) query = query.where('type', '=', filter.type);
  if (filter.outcome !== undefined) query = query.where('outcome', '=', filter.outcome);
  if (filter.principal_id !== undefined) query = query.where('principal_id', '=', filter.principal_id);
  if (filter.object_id !== undefined) query = query.where('object_id', '=', filter.object_id);
  if (filter.reporter !== undefined) query = query.where('reporter', '=', filter.reporter);
  if (filter.from !== undefined) query = query.where('created', '>=', timestamp(filter.from));
  if (filter.to !== undefined) query = query.where('created', '<', timestamp(filter.to));
  const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const rows = await query
    .select(['id', 'created', 'type', 'outcome', 'principal_type', 'principal_id', 'principal_name', 'source_address', 'object_type', 'object_id', 'details', 'reporter'])
    .orderBy('created', 'desc')
    .orderBy('seq', 'desc')
    .offset(offset)
    .limit(limit)
    .execute();
  return { count: Number(total.n), items: rows.map(view) };
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
