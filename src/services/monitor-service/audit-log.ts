import type { Kysely } from 'kysely';
import type { Principal } from '../../access.js';
import type { Tables } from '../../db/schema.js';
import { CONTROL_PLANE_REPORTER } from './event-codes.js';
import { insertAuditEvent } from './repository.js';

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
  return insertAuditEvent(db, event, event.reporter ?? CONTROL_PLANE_REPORTER);
}
