import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Tables } from '../../db/schema.js';

/**
 * The installation's policy version: bumped (in the transaction of the change) by anything that
 * changes what a data-plane proxy enforces, and watched by the policy feed.
 */
export async function bumpPolicyVersion(db: Kysely<Tables>): Promise<number> {
  await db.updateTable('counters').set({ value: sql`value + 1` }).where('name', '=', 'policy_version').execute();
  return currentPolicyVersion(db);
}

export async function currentPolicyVersion(db: Kysely<Tables>): Promise<number> {
  const row = await db.selectFrom('counters').select('value').where('name', '=', 'policy_version').executeTakeFirst();
  return Number(row?.value ?? 0);
}
