import type { ExpressionBuilder } from 'kysely';
import type { AppContext } from '../../context.js';
import type { Tables } from '../../db/schema.js';
import { PrivxError } from '../../errors.js';
import { addSeconds, timestamp } from '../../lib/time.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';

type Scope = Tables['login_attempts']['scope'];

/** Before every real window: a counter cleared by a success reads as no counter at all. */
const NO_WINDOW = timestamp(new Date(0));

/** Longest account name a counter (and the audit event) keeps. */
const MAX_ACCOUNT_LENGTH = 200;

/** One counter an attempt holds: the window it was counted in, so a release never touches a later window. */
interface Reservation {
  scope: Scope;
  name: string;
  windowStart: string;
}

/** One credential check in progress; settled by {@link LoginThrottle.fail} or {@link LoginThrottle.succeed}. */
export interface LoginAttempt {
  readonly address: string;
  /** The account the attempt is counted against, once known (see {@link LoginThrottle.countAccount}). */
  account: string | undefined;
  readonly reservations: Reservation[];
  settled: boolean;
}

/**
 * Failed-credential throttling per account and per client address, kept in the database so every
 * node counts the same attempts.
 *
 * Each key (an account, a client address) has a counter row: `n` attempts counted in the window
 * that started at `window_start` and lasts `windowSeconds`. An attempt is counted — reserved —
 * before any credential is checked, by one upsert per statement that increments the counter only
 * while it is below the limit (or starts a new window when the old one is over). The row lock of
 * that upsert serialises concurrent attempts on one key on both databases, so however many arrive
 * at once, at most `limit` of them are checked per window; the rest get 429 before their
 * credentials are looked at, so a guesser learns nothing, and are not counted.
 *
 * A failed attempt stays counted. A successful one is withdrawn from the address counter and clears
 * the account's counter. An attempt that ends without a verdict on the credentials (bad input, a
 * lost race for a one-time token, an error) is withdrawn from every counter.
 */
export class LoginThrottle {
  constructor(private readonly context: AppContext) {}

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
   * {@link fail}, {@link succeed} or {@link abandon}.
   */
  async begin(address: string, account?: string): Promise<LoginAttempt> {
    const keys: Array<{ scope: Scope; name: string }> = [{ scope: 'address', name: address }];
    if (account !== undefined) keys.push({ scope: 'account', name: account.slice(0, MAX_ACCOUNT_LENGTH) });
    const attempt: LoginAttempt = { address, account: account?.slice(0, MAX_ACCOUNT_LENGTH), reservations: [], settled: false };
    await this.reserve(attempt, keys);
    return attempt;
  }

  /** The attempt ended without a verdict on the credentials (bad input, a lost race): it is withdrawn. No-op once settled. */
  async abandon(attempt: LoginAttempt): Promise<void> {
    if (attempt.settled) return;
    attempt.settled = true;
    await this.release(attempt.reservations, undefined);
  }

  /**
   * Counts `attempt` against `account` as well — for grants that learn which account is at stake
   * only once the client has authenticated, so that nobody can lock an account out without its
   * client's credentials. Over the account's limit: 429, and the attempt is withdrawn entirely.
   */
  async countAccount(attempt: LoginAttempt, account: string): Promise<void> {
    attempt.account = account.slice(0, MAX_ACCOUNT_LENGTH);
    await this.reserve(attempt, [{ scope: 'account', name: attempt.account }]);
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
    await this.release(attempt.reservations, attempt.account);
  }

  /** Reserves one attempt on every key (one statement), or throws 429 holding none of them. */
  private async reserve(attempt: LoginAttempt, keys: ReadonlyArray<{ scope: Scope; name: string }>): Promise<void> {
    const { perAccount, perAddress, windowSeconds } = this.context.config.throttle;
    const now = this.context.clock.now();
    const start = timestamp(now);
    // A window that started this long ago or earlier is over: the attempt starts a new one.
    const over = timestamp(addSeconds(now, -windowSeconds));
    const windowOver = (eb: ExpressionBuilder<Tables, 'login_attempts'>) => eb('login_attempts.window_start', '<=', over);
    const reserved = await this.context.database.db
      .insertInto('login_attempts')
      .values(keys.map((key) => ({ ...key, n: 1, window_start: start })))
      .onConflict((conflict) =>
        conflict
          .columns(['scope', 'name'])
          .doUpdateSet((eb) => ({
            n: eb.case().when(windowOver(eb)).then(1).else(eb('login_attempts.n', '+', 1)).end(),
            window_start: eb.case().when(windowOver(eb)).then(start).else(eb.ref('login_attempts.window_start')).end(),
          }))
          // Evaluated on the locked, current row: a concurrent upsert of the same key waits and then sees its increment.
          .where((eb) =>
            eb.or([
              windowOver(eb),
              eb.and([eb('login_attempts.scope', '=', 'account'), eb('login_attempts.n', '<', perAccount)]),
              eb.and([eb('login_attempts.scope', '=', 'address'), eb('login_attempts.n', '<', perAddress)]),
            ]),
          ),
      )
      .returning(['scope', 'name', 'window_start'])
      .execute();
    attempt.reservations.push(...reserved.map((row) => ({ scope: row.scope, name: row.name, windowStart: row.window_start })));
    if (reserved.length < keys.length) {
      attempt.settled = true;
      await this.release(attempt.reservations, undefined);
      throw new PrivxError(429, 'TOO_MANY_CONNECTIONS', 'too many failed attempts; try again later', {
        headers: { 'retry-after': String(windowSeconds) },
      });
    }
  }

  /**
   * Withdraws `reservations` (each only from the window it was counted in) and, when `clearAccount`
   * is given, clears that account's counter — in one statement.
   */
  private async release(reservations: readonly Reservation[], clearAccount: string | undefined): Promise<void> {
    if (reservations.length === 0 && clearAccount === undefined) return;
    const cleared = (eb: ExpressionBuilder<Tables, 'login_attempts'>) =>
      clearAccount === undefined ? eb.lit(false) : eb.and([eb('scope', '=', 'account'), eb('name', '=', clearAccount)]);
    await this.context.database.db
      .updateTable('login_attempts')
      .set((eb) => ({
        n: eb.case().when(cleared(eb)).then(0).else(eb('n', '-', 1)).end(),
        window_start: eb.case().when(cleared(eb)).then(NO_WINDOW).else(eb.ref('window_start')).end(),
      }))
      .where((eb) =>
        eb.or([
          cleared(eb),
          ...reservations.map((reservation) =>
            eb.and([eb('scope', '=', reservation.scope), eb('name', '=', reservation.name), eb('window_start', '=', reservation.windowStart), eb('n', '>', 0)]),
          ),
        ]),
      )
      .execute();
  }
}
