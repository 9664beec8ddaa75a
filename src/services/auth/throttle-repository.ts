import type { ExpressionBuilder, Kysely } from 'kysely';
import { preparedQuery } from '../../db/index.js';
import type { Tables } from '../../db/schema.js';

/** The login throttle's SQL (throttle.ts): its counters in `login_attempts`, one row per key. */

type Scope = Tables['login_attempts']['scope'];

/**
 * Counts one attempt on each key, in one statement, unless a key is at its limit: a new row, a
 * new window when the row's is over, else n + 1 while n is below the limit. The WHERE of the
 * upsert is evaluated on the current, locked row (PostgreSQL re-checks it after waiting for a
 * concurrent upsert of the same key; SQLite has one writer), so concurrent attempts on one key
 * are counted one after the other. Returns the keys counted, with their windows.
 */
function reserveQuery(db: Kysely<Tables>, keys: ReadonlyArray<{ scope: Scope; name: string }>, start: string, over: string, perAccount: number, perAddress: number) {
  const windowOver = (eb: ExpressionBuilder<Tables, 'login_attempts'>) => eb('login_attempts.window_start', '<=', over);
  return db
    .insertInto('login_attempts')
    .values(keys.map((key) => ({ scope: key.scope, name: key.name, n: 1, window_start: start })))
    .onConflict((conflict) =>
      conflict
        .columns(['scope', 'name'])
        .doUpdateSet((eb) => ({
          n: eb.case().when(windowOver(eb)).then(1).else(eb('login_attempts.n', '+', 1)).end(),
          window_start: eb.case().when(windowOver(eb)).then(start).else(eb.ref('login_attempts.window_start')).end(),
        }))
        .where((eb) =>
          eb.or([
            windowOver(eb),
            eb.and([eb('login_attempts.scope', '=', 'account'), eb('login_attempts.n', '<', perAccount)]),
            eb.and([eb('login_attempts.scope', '=', 'address'), eb('login_attempts.n', '<', perAddress)]),
          ]),
        ),
    )
    .returning(['scope', 'window_start']);
}

export const reserveAddress = preparedQuery((db, address: string, start: string, over: string, perAccount: number, perAddress: number) =>
  reserveQuery(db, [{ scope: 'address', name: address }], start, over, perAccount, perAddress),
);

export const reserveAddressAndAccount = preparedQuery((db, address: string, account: string, start: string, over: string, perAccount: number, perAddress: number) =>
  reserveQuery(db, [{ scope: 'address', name: address }, { scope: 'account', name: account }], start, over, perAccount, perAddress),
);

/**
 * Gives back what an attempt counted — the address's and the account's, each only in the window it
 * was counted in — and clears the counter of account `clear` (a success); null skips a part.
 */
export const giveBack = preparedQuery(
  (db, address: string | null, addressWindow: string | null, account: string | null, accountWindow: string | null, clear: string | null, noWindow: string) => {
    const cleared = (eb: ExpressionBuilder<Tables, 'login_attempts'>) => eb.and([eb('scope', '=', 'account'), eb('name', '=', clear)]);
    return db
      .updateTable('login_attempts')
      .set((eb) => ({
        n: eb.case().when(cleared(eb)).then(0).else(eb('n', '-', 1)).end(),
        window_start: eb.case().when(cleared(eb)).then(noWindow).else(eb.ref('window_start')).end(),
      }))
      .where((eb) =>
        eb.or([
          cleared(eb),
          eb.and([
            eb('n', '>', 0),
            eb.or([
              eb.and([eb('scope', '=', 'address'), eb('name', '=', address), eb('window_start', '=', addressWindow)]),
              eb.and([eb('scope', '=', 'account'), eb('name', '=', account), eb('window_start', '=', accountWindow)]),
            ]),
          ]),
        ]),
      );
  },
);

/** The counters of `address` and `account` (a row each that exists). */
export const selectCounters = preparedQuery((db, address: string, account: string) =>
  db.selectFrom('login_attempts').select(['scope', 'n', 'window_start']).where((eb) =>
    eb.or([eb.and([eb('scope', '=', 'address'), eb('name', '=', address)]), eb.and([eb('scope', '=', 'account'), eb('name', '=', account)])]),
  ),
);
