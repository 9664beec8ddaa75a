import type { AppContext } from '../../context.js';
import { PrivxError } from '../../errors.js';
import { addSeconds, timestamp } from '../../lib/time.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { effectiveSettings } from '../settings/effective.js';
import { giveBack, reserveAddress, reserveAddressAndAccount, selectCounters } from './throttle-repository.js';

/** Before every real window: a counter cleared by a success reads as no counter at all. */
const NO_WINDOW = timestamp(new Date(0));

/** Longest account name a counter (and the audit event) keeps. */
const MAX_ACCOUNT_LENGTH = 200;

/** One credential check in progress; settled by {@link LoginThrottle.fail}, {@link LoginThrottle.succeed} or {@link LoginThrottle.abandon}. */
export interface LoginAttempt {
  readonly address: string;
  /** The account the attempt is counted against, if any. */
  readonly account: string | undefined;
  /** The window each counter counted the attempt in, so giving it back never touches a later window. */
  readonly addressWindow: string;
  readonly accountWindow: string | undefined;
  settled: boolean;
}

/** A counter as read: `n` attempts in the window that started at `window_start` (both null: no row). */
export interface CounterReading {
  n: number | string | null;
  window_start: string | null;
}

/** The counters a credential check is throttled by. */
export interface CounterReadings {
  address: CounterReading | undefined;
  account: CounterReading | undefined;
}

/**
 * Failed-credential throttling per account and per client address, kept in the database so every
 * node counts the same attempts.
 *
 * Each key (an account, a client address) has a counter row: `n` attempts counted in the window
 * that started at `window_start` and lasts `windowSeconds`. An attempt is counted — reserved —
 * before any verdict on its credentials, by one upsert that counts it only while the counters are
 * below their limits (see `reserveQuery` in throttle-repository.ts); so however many attempts
 * arrive at once, at most `limit` per key and window get a verdict, and the rest get 429 without
 * their credentials being looked at, so a guesser learns nothing, and are not counted.
 *
 * A failed attempt stays counted. A successful one is given back to the address counter and clears
 * the account's. An attempt that ends without a verdict (bad input, a lost race for a one-time
 * token, an error) is given back to both.
 *
 * Where the check itself is a few keyed-hash compares (the password grant), the token endpoint
 * uses the cheaper equivalent that keeps successes free of writes: the counters are read with the
 * client ({@link enforce}: 429 at a limit), and a failure's verdict is given only once it has been
 * counted by the same conditional upsert ({@link countFailure}: 429 instead of 401 when the
 * counter filled up meanwhile). A success is answered only while its counters were below their
 * limits, a failure only when counted within them, so parallel guesses get no more verdicts than
 * with a reservation.
 */
export class LoginThrottle {
  constructor(private readonly context: AppContext) {}

  /** The limits in force: the `auth/login_throttle` settings, env overrides (docs/settings.md). */
  private limits(): Promise<{ perAccount: number; perAddress: number; windowSeconds: number }> {
    return effectiveSettings(this.context).loginThrottle();
  }

  /**
   * Runs `work` as one attempt from `address`, counted against the address and, when `account` is
   * given, against the account, before `work` starts (429 when either is at its limit). An attempt
   * `work` leaves unsettled is withdrawn.
   */
  async attempt<T>(address: string, account: string | undefined, work: (attempt: LoginAttempt) => Promise<T>): Promise<T> {
    const attempt = await this.begin(address, account);
    try {
      return await work(attempt);
    } finally {
      await this.abandon(attempt);
    }
  }

  /**
   * Starts an attempt as {@link attempt} does, for a caller that settles it itself: it must end in
   * {@link fail}, {@link succeed} or {@link abandon}. One statement; over a limit, 429 holding nothing.
   */
  async begin(address: string, account?: string): Promise<LoginAttempt> {
    const { perAccount, perAddress, windowSeconds } = await this.limits();
    const db = this.context.database.db;
    const now = this.context.clock.now();
    const start = timestamp(now);
    // A window that started this long ago or earlier is over: the attempt starts a new one.
    const over = timestamp(addSeconds(now, -windowSeconds));
    const name = account?.slice(0, MAX_ACCOUNT_LENGTH);
    const counted =
      name === undefined
        ? await reserveAddress(db, address, start, over, perAccount, perAddress)
        : await reserveAddressAndAccount(db, address, name, start, over, perAccount, perAddress);
    const attempt: LoginAttempt = {
      address,
      account: name,
      addressWindow: counted.find((row) => row.scope === 'address')?.window_start ?? '',
      accountWindow: counted.find((row) => row.scope === 'account')?.window_start,
      settled: false,
    };
    if (counted.length < (name === undefined ? 1 : 2)) {
      await this.abandon(attempt);
      throw new PrivxError(429, 'TOO_MANY_CONNECTIONS', 'too many failed attempts; try again later', {
        headers: { 'retry-after': String(windowSeconds) },
      });
    }
    return attempt;
  }

  /** The counters of `address` and `account`, for {@link enforce} (callers that cannot read them with their own data). */
  async read(address: string, account: string): Promise<CounterReadings> {
    const rows = await selectCounters(this.context.database.db, address, account.slice(0, MAX_ACCOUNT_LENGTH));
    return { address: rows.find((row) => row.scope === 'address'), account: rows.find((row) => row.scope === 'account') };
  }

  /** Throws 429 when either counter is at its limit in a window not yet over. */
  async enforce(counters: CounterReadings): Promise<void> {
    const { perAccount, perAddress, windowSeconds } = await this.limits();
    const over = timestamp(addSeconds(this.context.clock.now(), -windowSeconds));
    if (this.counted(counters.address, over) >= perAddress || this.counted(counters.account, over) >= perAccount) {
      throw new PrivxError(429, 'TOO_MANY_CONNECTIONS', 'too many failed attempts; try again later', {
        headers: { 'retry-after': String(windowSeconds) },
      });
    }
  }

  /**
   * Counts a failure against `address` and, when given, `account` — only while both are below their
   * limits (one statement, as {@link begin}) — and audits it; 429 (counting nothing) otherwise. The
   * caller answers the failure only after this returns.
   */
  async countFailure(address: string, account: string | undefined, eventType: string, reason: string, attemptedAccount: string): Promise<void> {
    const attempt = await this.begin(address, account);
    await this.fail(attempt, eventType, reason, attemptedAccount);
  }

  /** A success after {@link enforce}: clears the account's counter when it holds failures. */
  async clearAccount(account: string, counters: CounterReadings): Promise<void> {
    const over = timestamp(addSeconds(this.context.clock.now(), -(await this.limits()).windowSeconds));
    if (this.counted(counters.account, over) === 0) return;
    await giveBack(this.context.database.db, null, null, null, null, account.slice(0, MAX_ACCOUNT_LENGTH), NO_WINDOW);
  }

  private counted(counter: CounterReading | undefined, over: string): number {
    return counter?.window_start != null && counter.window_start > over ? Number(counter.n ?? 0) : 0;
  }

  /** The credentials were wrong: the attempt stays counted, and is audited (the account name, never the password). */
  async fail(attempt: LoginAttempt, eventType: string, reason: string, attemptedAccount: string): Promise<void> {
    attempt.settled = true;
    await recordAuditEvent(this.context.database.db, {
      type: eventType,
      outcome: 'failure',
      sourceAddress: attempt.address,
      objectType: 'account',
      objectId: attemptedAccount.slice(0, MAX_ACCOUNT_LENGTH),
      details: { reason },
      at: this.context.clock.now(),
    });
  }

  /** The credentials were right: the attempt leaves the address counter and the account's failures are cleared. */
  async succeed(attempt: LoginAttempt): Promise<void> {
    attempt.settled = true;
    await giveBack(this.context.database.db, attempt.address, attempt.addressWindow, null, null, attempt.account ?? null, NO_WINDOW);
  }

  /** The attempt ended without a verdict on the credentials (bad input, a lost race): it is withdrawn. No-op once settled. */
  async abandon(attempt: LoginAttempt): Promise<void> {
    if (attempt.settled) return;
    attempt.settled = true;
    await giveBack(this.context.database.db, attempt.address, attempt.addressWindow, attempt.account ?? null, attempt.accountWindow ?? null, null, NO_WINDOW);
  }
}
