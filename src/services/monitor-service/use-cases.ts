import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { invalid } from '../../errors.js';
import type { AuditBatch } from '../../lib/contracts/audit-batch.js';
import type { Clock } from '../../lib/time.js';
import { insertAuditEvents } from './repository.js';

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
