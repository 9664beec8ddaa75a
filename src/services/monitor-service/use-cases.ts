import os from 'node:os';
import type { Static } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import type { AppContext } from '../../context.js';
import type { Tables } from '../../db/schema.js';
import { invalid } from '../../errors.js';
import type { AuditBatch } from '../../lib/contracts/audit-batch.js';
import type { Clock } from '../../lib/time.js';
import { VERSION } from '../../version.js';
import { typesOfEventIds, typesOfServices } from './event-codes.js';
import { databaseReachable, insertAuditEvents, registeredComponents, type AuditEventFilter } from './repository.js';
import type { AuditEventSearchBody, ComponentOut, InstanceStatusOut } from './schemas.js';

/** Largest `details` object per event, as JSON bytes. */
export const MAX_INGEST_DETAILS_BYTES = 8192;
/** How far in the future an event's `at` may lie (clock skew between proxy and control plane). */
const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

/**
 * Stores a web proxy's batch of audit events under its trusted client id (`reporter`): all or
 * none. An event dated too far in the future, with oversized details, or naming a principal
 * without its id fails the whole batch (400) before anything is written. Returns how many were
 * stored.
 */
export async function ingestAuditBatch(db: Kysely<Tables>, clock: Clock, reporter: string, events: AuditBatch['events']): Promise<number> {
  const latest = clock.now().getTime() + MAX_FUTURE_SKEW_MS;
  const prepared = events.map((event, index) => {
    const at = new Date(event.at);
    if (at.getTime() > latest) throw invalid('VALUE_OUT_OF_BOUNDS', `events[${index}].at lies in the future`, `events[${index}].at`);
    const details = event.details ?? {};
    if (Buffer.byteLength(JSON.stringify(details), 'utf8') > MAX_INGEST_DETAILS_BYTES) {
      throw invalid('VALUE_OUT_OF_BOUNDS', `events[${index}].details is larger than ${MAX_INGEST_DETAILS_BYTES} bytes`, `events[${index}].details`);
    }
    if (event.principal_id === undefined && (event.principal_name !== undefined || event.principal_type !== undefined)) {
      throw invalid('REQUIRED_VALUE_MISSING', `events[${index}].principal_id is required with principal_name/principal_type`, `events[${index}].principal_id`);
    }
    return {
      type: event.type,
      outcome: event.outcome,
      at,
      principal: event.principal_id === undefined ? undefined : { type: event.principal_type ?? 'user', id: event.principal_id, name: event.principal_name ?? null },
      sourceAddress: event.source_address,
      objectType: event.object_type,
      objectId: event.object_id,
      details,
    };
  });
  const ids = await insertAuditEvents(db, reporter, prepared);
  return ids.length;
}

/**
 * The SDK's audit search body as a filter: empty strings are no filter; the time range is
 * [start_time, end_time). `query` (the Python SDK's keywords, in the URL) adds to `keywords`.
 */
export function auditSearchFilter(body: Static<typeof AuditEventSearchBody>, query?: string): AuditEventFilter {
  const given = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);
  const start = given(body.start_time);
  const end = given(body.end_time);
  const from = instantOf(start, 'start_time');
  const to = instantOf(end, 'end_time');
  if (from !== undefined && to !== undefined && from.getTime() > to.getTime()) {
    throw invalid('VALUE_OUT_OF_BOUNDS', 'start_time must not be after end_time', 'start_time');
  }
  const objects: NonNullable<AuditEventFilter['objects']>[number][] = [];
  const object = (objectType: string | undefined, detailKey: string, value: string | undefined) => {
    const id = given(value);
    if (id !== undefined) objects.push({ objectType, detailKey, id });
  };
  object('host', 'host_id', body.host_id);
  object('access-group', 'access_group_id', body.access_group_id);
  object('web-session', 'session_id', body.session_id);
  object(undefined, 'connection_id', body.connection_id);
  object(undefined, 'source_id', body.source_id);
  let types: string[] | undefined;
  const narrow = (allowed: string[]) => {
    types = types === undefined ? allowed : types.filter((type) => allowed.includes(type));
  };
  if (body.event_ids && body.event_ids.length > 0) narrow(typesOfEventIds(body.event_ids));
  if (body.services && body.services.length > 0) narrow(typesOfServices(body.services));
  return {
    keywords: [...keywordsOf(body.keywords), ...keywordsOf(query)],
    principal_id: given(body.user_id),
    users: body.users ?? undefined,
    from,
    to,
    types,
    objects,
  };
}

/**
 * An RFC 3339 time the schema accepted as a Date; 400 for one JavaScript cannot represent (a leap
 * second, a year out of range) rather than a 500 later.
 */
export function instantOf(value: string | undefined, property: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw invalid('VALUE_INCORRECT_FORMAT', `${property} is not a time privgate can represent`, property);
  return date;
}

/** Whitespace- or comma-separated keywords; none when blank. */
export function keywordsOf(text: string | undefined): string[] {
  return (text ?? '').split(/[\s,]+/).filter((word) => word !== '');
}

/** This node's health: the database answers, its version and how long it has run. */
export async function thisNodeHealth(context: AppContext): Promise<Static<typeof InstanceStatusOut>> {
  const { database, clock, startTime } = context;
  const reachable = await databaseReachable(database.db);
  const status = reachable ? 'ok' : 'degraded';
  const uptime = Math.max(0, Math.floor((clock.now().getTime() - startTime.getTime()) / 1000));
  const db = { dialect: database.dialect, reachable };
  const node = {
    hostname: os.hostname(),
    component: 'control-plane',
    status,
    this_node: true,
    version: VERSION,
    start_time: startTime.toISOString(),
    uptime_seconds: uptime,
    database: db,
  };
  return { status, version: VERSION, hostname: node.hostname, start_time: node.start_time, uptime_seconds: uptime, database: db, nodes: [node], nodes_tracked: false };
}

/**
 * The components privgate knows: this control-plane node (other nodes on the same database do
 * not register themselves, so they are not listed), and every registered data-plane client,
 * whose liveness is not tracked (`status: unknown`).
 */
export async function components(context: AppContext): Promise<Static<typeof ComponentOut>[]> {
  const health = await thisNodeHealth(context);
  const clients = health.database.reachable ? await registeredComponents(context.database.db) : [];
  return [...health.nodes, ...clients.map((client) => ({ hostname: client.name, component: client.type, id: client.id, status: 'unknown', this_node: false }))];
}
