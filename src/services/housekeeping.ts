import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { AppContext } from '../context.js';
import type { Database } from '../db/index.js';
import { addSeconds, timestamp } from '../lib/time.js';
import { REVOKED_SESSION_MARGIN_SECONDS } from './authorizer/repository.js';
import { deleteExpiredBatch, type PurgeTarget } from './housekeeping-repository.js';
import { effectiveSettings } from './settings/effective.js';

/**
 * Rows are kept this long past the instant they stop mattering, so neither clock skew between
 * nodes nor the few seconds of tolerance tokens are verified with can make a node act on a row
 * another node has already forgotten.
 */
export const PURGE_GRACE_SECONDS = 600;
/** Rows deleted per statement: each batch is its own short transaction. */
export const PURGE_BATCH_SIZE = 500;
export const HOUSEKEEPING_INTERVAL_MS = 10 * 60 * 1000;

/** One table's rule: rows whose `column` (an RFC 3339 instant) is older than `keepSeconds` ago go (null: none go). */
type PurgeRule = PurgeTarget & { keepSeconds: number | null };

function purgeRules(throttleWindowSeconds: number, auditRetentionDays: number) {
  return [
    // `expires` is when the last token the row can revoke expires: a jti's own exp; for `family:`
    // and `sub:` keys the revocation instant plus the longest token lifetime.
    { table: 'token_revocations', key: 'key', column: 'expires', keepSeconds: PURGE_GRACE_SECONDS },
    // Redeemed refresh tokens: past its expiry the grant refuses a token before looking for its
    // row, so forgetting the redemption cannot allow a second one.
    { table: 'refresh_tokens', key: 'id', column: 'expires', keepSeconds: PURGE_GRACE_SECONDS },
    { table: 'login_requests', key: 'token_hash', column: 'expires', keepSeconds: PURGE_GRACE_SECONDS },
    { table: 'authorization_codes', key: 'code_hash', column: 'expires', keepSeconds: PURGE_GRACE_SECONDS },
    { table: 'icap_conf_sessions', key: 'id_hash', column: 'expires', keepSeconds: PURGE_GRACE_SECONDS },
    // Revoked sessions stay in the policy feed for a margin past expiry.
    { table: 'web_sessions', key: 'id', column: 'expires', keepSeconds: REVOKED_SESSION_MARGIN_SECONDS + PURGE_GRACE_SECONDS },
    // A throttle counter whose window started more than one window ago counts as zero.
    { table: 'login_attempts', key: 'name', column: 'window_start', keepSeconds: 2 * throttleWindowSeconds },
    // The `monitor-service/audit` retention (docs/settings.md); 0 keeps every event.
    { table: 'audit_events', key: 'id', column: 'created', keepSeconds: auditRetentionDays > 0 ? auditRetentionDays * 86_400 : null },
  ] as const satisfies readonly PurgeRule[];
}

export type PurgedTable = ReturnType<typeof purgeRules>[number]['table'];
export type PurgeCounts = Record<PurgedTable, number>;

export interface PurgeOptions {
  /** The throttle's window (the `auth/login_throttle` setting in force): counters are kept for two of them. */
  throttleWindowSeconds: number;
  /** Audit events older than this many days go; 0 or absent keeps them all. */
  auditRetentionDays?: number;
  batchSize?: number;
  /** Stops between batches (the app closing); counts so far are returned. */
  signal?: AbortSignal;
}

/**
 * Deletes rows that can no longer affect any decision: expired revocations, redeemed refresh
 * tokens, login requests, authorization codes, config and web sessions past their retention, old
 * login failures; audit events only past the retention `auditRetentionDays` gives (none by default).
 *
 * Works in batches of at most `batchSize` rows, oldest first, each statement its own transaction,
 * so no lock is held for long. Safe on several nodes at once against one PostgreSQL: a batch
 * skips rows another node is deleting (`for update skip locked`) instead of waiting on them.
 */
export async function purgeExpired(database: Database, now: Date, options: PurgeOptions): Promise<PurgeCounts> {
  const batchSize = options.batchSize ?? PURGE_BATCH_SIZE;
  const counts = {} as PurgeCounts;
  for (const rule of purgeRules(options.throttleWindowSeconds, options.auditRetentionDays ?? 0)) {
    counts[rule.table] = 0;
    if (rule.keepSeconds === null) continue;
    const cutoff = timestamp(addSeconds(now, -rule.keepSeconds));
    while (!options.signal?.aborted) {
      const deleted = await deleteExpiredBatch(database, rule, cutoff, batchSize);
      counts[rule.table] += deleted;
      if (deleted < batchSize) break;
      // Let requests waiting on the database (or the event loop) go first.
      await yieldToEventLoop();
    }
  }
  return counts;
}

export interface Housekeeping {
  /** Stops the timer and waits for a run in progress (which stops at its next batch). */
  stop(): Promise<void>;
}

/**
 * Runs {@link purgeExpired} every `intervalMs` on this node. The timer does not keep the process
 * alive; a failed run is logged and retried next round; runs never overlap.
 */
export function startHousekeeping(context: AppContext, intervalMs: number = HOUSEKEEPING_INTERVAL_MS): Housekeeping {
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  const run = async () => {
    try {
      const settings = effectiveSettings(context);
      const [throttle, auditRetentionDays] = await Promise.all([settings.loginThrottle(), settings.auditRetentionDays()]);
      const counts = await purgeExpired(context.database, context.clock.now(), {
        throttleWindowSeconds: throttle.windowSeconds,
        auditRetentionDays,
        signal: abort.signal,
      });
      if (Object.values(counts).some((count) => count > 0)) context.log.info({ purged: counts }, 'housekeeping: purged expired rows');
    } catch (error) {
      if (!abort.signal.aborted) context.log.error({ err: error }, 'housekeeping: purging expired rows failed; retrying next round');
    }
  };
  const timer = setInterval(() => {
    running ??= run().finally(() => {
      running = undefined;
    });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      abort.abort();
      clearInterval(timer);
      await running;
    },
  };
}
