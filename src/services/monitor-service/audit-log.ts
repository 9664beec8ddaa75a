import crypto from 'node:crypto';
import type { Insertable, Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { timestamp } from '../../lib/time.js';
import type { Principal } from '../../access.js';

export type AuditOutcome = 'success' | 'failure' | 'allow' | 'deny';

/** One audit event as services report it. `details` must never hold a secret. */
export interface AuditEventInput {
  type: string;
  outcome: AuditOutcome;
  principal?: Pick<Principal, 'type' | 'id' | 'name'> | undefined;
  sourceAddress?: string | undefined;
  objectType?: string | undefined;
  objectId?: string | undefined;
  details?: Record<string, unknown>;
  /** Which node or web proxy saw it; default the control plane. */
  reporter?: string;
  at: Date;
}

/**
 * Appends an audit event. Pass the transaction of the change it describes so the event and the
 * change commit (or roll back) together.
 */
export async function recordAuditEvent(db: Kysely<Tables>, event: AuditEventInput): Promise<string> {
  const row = auditEventRow(event, event.reporter ?? 'control-plane');
  await db.insertInto('audit_events').values(row).execute();
  return row.id;
}

/** The stored row of an event (a fresh id, JSON details); shared by single and batch inserts. */
export function auditEventRow(
  event: Pick<AuditEventInput, 'type' | 'at' | 'sourceAddress' | 'objectType' | 'objectId' | 'details'> & {
    outcome: string;
    principal?: { type: string; id: string; name: string | null } | undefined;
  },
  reporter: string,
): Insertable<Tables['audit_events']> & { id: string } {
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
