import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';

const PER_ADDRESS_PER_MINUTE = 20;

/**
 * Audits rejected bearer tokens (forged, expired, revoked, foreign key…). Bounded per source
 * address and minute so a flood of garbage tokens cannot turn into a flood of database writes;
 * what is suppressed is counted into the next event that gets through.
 */
export function rejectedTokenAuditor(context: AppContext): (request: FastifyRequest, reason: string) => Promise<void> {
  let minute = 0;
  const counts = new Map<string, number>();
  let suppressed = 0;
  return async (request, reason) => {
    const now = context.clock.now();
    const currentMinute = Math.floor(now.getTime() / 60_000);
    if (currentMinute !== minute) {
      minute = currentMinute;
      counts.clear();
    }
    const seen = (counts.get(request.ip) ?? 0) + 1;
    counts.set(request.ip, seen);
    if (seen > PER_ADDRESS_PER_MINUTE) {
      suppressed += 1;
      return;
    }
    const details: Record<string, unknown> = { reason, method: request.method, route: request.routeOptions.url };
    if (suppressed > 0) details.suppressed_before = suppressed;
    suppressed = 0;
    await recordAuditEvent(context.database.db, { type: 'access_token_rejected', outcome: 'deny', sourceAddress: request.ip, details, at: now });
  };
}
