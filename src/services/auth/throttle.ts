import crypto from 'node:crypto';
import type { ExpressionBuilder } from 'kysely';
import type { AppContext } from '../../context.js';
import { preparedQuery } from '../../db/index.js';
import type { Tables } from '../../db/schema.js';
import { PrivxError } from '../../errors.js';
import { addSeconds, timestamp } from '../../lib/time.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';

/**
 * The two counts the throttle decides on, as select expressions (uncorrelated scalar subqueries,
 * each served by its index), so a caller can fetch them in the same statement as other data.
 */
export function recentFailureCounts(eb: ExpressionBuilder<Tables, never>, account: string, address: string, since: string) {
  return [
    eb.selectFrom('login_failures').select((count) => count.fn.countAll<number>().as('n')).where('account', '=', account).where('at', '>', since).as('by_account'),
    eb.selectFrom('login_failures').select((count) => count.fn.countAll<number>().as('n')).where('address', '=', address).where('at', '>', since).as('by_address'),
  ] as const;
}

const countRecentFailures = preparedQuery((db, account: string, address: string, since: string) =>
  db.selectNoFrom((eb) => recentFailureCounts(eb, account, address, since)),
);

/** Failure counts as {@link recentFailureCounts} selects them. */
export interface FailureCounts {
  by_account: number | string | null;
  by_address: number | string | null;
}

/**
 * Failed-credential throttling per account and per client address, kept in the database so
 * every node counts the same failures. Over the limit, attempts get 429 before credentials are
 * even checked, so a guesser learns nothing.
 */
export class LoginThrottle {
  constructor(private readonly context: AppContext) {}

  /** Failures after this instant count (RFC 3339, for {@link recentFailureCounts}). */
  windowStart(): string {
    return timestamp(addSeconds(this.context.clock.now(), -this.context.config.throttle.windowSeconds));
  }

  /**
   * Throws 429 when the account or the address has failed too often recently; otherwise returns
   * how many recent failures the account has (so a success knows whether there is anything to clear).
   */
  async check(account: string, address: string): Promise<number> {
    const [counts] = await countRecentFailures(this.context.database.db, account, address, this.windowStart());
    return this.enforce(counts);
  }

  /** {@link check} on counts the caller read itself (in the same statement as its own data). */
  enforce(counts: FailureCounts | undefined): number {
    const { perAccount, perAddress, windowSeconds } = this.context.config.throttle;
    const byAccount = Number(counts?.by_account ?? 0);
    if (byAccount >= perAccount || Number(counts?.by_address ?? 0) >= perAddress) {
      throw new PrivxError(429, 'TOO_MANY_CONNECTIONS', 'too many failed attempts; try again later', {
        headers: { 'retry-after': String(windowSeconds) },
      });
    }
    return byAccount;
  }

  /** Records a failure and audits it (the attempted account name, never the password). */
  async fail(account: string, address: string, eventType: string, reason: string): Promise<void> {
    const db = this.context.database.db;
    const now = this.context.clock.now();
    await db.insertInto('login_failures').values({ id: crypto.randomUUID(), account, address, at: timestamp(now) }).execute();
    // Old rows only slow the counts down.
    await db.deleteFrom('login_failures').where('at', '<', timestamp(addSeconds(now, -2 * this.context.config.throttle.windowSeconds))).execute();
    await recordAuditEvent(db, {
      type: eventType,
      outcome: 'failure',
      sourceAddress: address,
      objectType: 'account',
      objectId: account.slice(0, 200),
      details: { reason },
      at: now,
    });
  }

  /** A success clears the account's failures (`recentFailures` as {@link check} returned it). */
  async succeed(account: string, recentFailures?: number): Promise<void> {
    if (recentFailures === 0) return;
    await this.context.database.db.deleteFrom('login_failures').where('account', '=', account).execute();
  }
}
