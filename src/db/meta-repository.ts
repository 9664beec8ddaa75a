import type { Kysely } from 'kysely';
import type { Tables } from './schema.js';

/** The installation's own key/value rows (`meta`): what every node must agree on. */
export interface MetaStore {
  read(key: string): Promise<string | undefined>;
  /** Writes `value` unless the key has one; answers the value in force afterwards (another node's, if it won). */
  insertIfAbsent(key: string, value: string): Promise<string>;
}

export function metaStore(db: Kysely<Tables>): MetaStore {
  const read = async (key: string): Promise<string | undefined> =>
    (await db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst())?.value;
  return {
    read,
    async insertIfAbsent(key, value) {
      await db
        .insertInto('meta')
        .values({ key, value })
        .onConflict((conflict) => conflict.column('key').doNothing())
        .execute();
      const stored = await read(key);
      if (stored === undefined) throw new Error(`meta row ${key} vanished`);
      return stored;
    },
  };
}
