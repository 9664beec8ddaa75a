import type { Insertable, Kysely } from 'kysely';
import type { Tables } from './db/schema.js';
import { ADMIN_ROLE_ID } from './services/role-store/permissions.js';

/**
 * The first-start set-up's SQL (bootstrap.ts): each write is safe to repeat and to race with
 * another node doing the same.
 */

/** Creates the policy version counter at 1 unless it exists. */
export async function ensurePolicyVersionCounter(db: Kysely<Tables>): Promise<void> {
  await db
    .insertInto('counters')
    .values({ name: 'policy_version', value: 1 })
    .onConflict((conflict) => conflict.column('name').doNothing())
    .execute();
}

/** Whether a user named `username` exists. */
export async function userExists(db: Kysely<Tables>, username: string): Promise<boolean> {
  const existing = await db.selectFrom('users').select('id').where('username', '=', username).executeTakeFirst();
  return existing !== undefined;
}

/** Inserts a user unless its username is taken; false when another node's insert won. */
export async function insertUserIfAbsent(db: Kysely<Tables>, user: Insertable<Tables['users']>): Promise<boolean> {
  const inserted = await db
    .insertInto('users')
    .values(user)
    .onConflict((conflict) => conflict.column('username').doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0) !== 0;
}

/** Makes a user a member of privx-admin. */
export async function addAdminRoleMember(db: Kysely<Tables>, userId: string, at: string): Promise<void> {
  await db.insertInto('role_members').values({ role_id: ADMIN_ROLE_ID, principal_type: 'user', principal_id: userId, created: at }).execute();
}
