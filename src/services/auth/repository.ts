import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';

/** The auth service's SQL: login requests, authorization codes and the accounts they log in. */

type LoginRequest = Tables['login_requests'];
type AuthorizationCode = Tables['authorization_codes'];

/** Stores a login request of `GET /oauth/authorize` (keyed by its token's keyed hash). */
export async function insertLoginRequest(db: Kysely<Tables>, request: LoginRequest): Promise<void> {
  await db.insertInto('login_requests').values(request).execute();
}

export async function findLoginRequest(db: Kysely<Tables>, tokenHash: string): Promise<LoginRequest | undefined> {
  return db.selectFrom('login_requests').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

/** Marks an unused login request used; false when it was already used (or is gone). */
export async function consumeLoginRequest(db: Kysely<Tables>, tokenHash: string, at: string): Promise<boolean> {
  const consumed = await db.updateTable('login_requests').set({ used: at }).where('token_hash', '=', tokenHash).where('used', 'is', null).executeTakeFirst();
  return Number(consumed.numUpdatedRows) === 1;
}

export async function insertAuthorizationCode(db: Kysely<Tables>, code: AuthorizationCode): Promise<void> {
  await db.insertInto('authorization_codes').values(code).execute();
}

/** A local user as a login checks it (with its password hash). */
export async function findUserForLogin(db: Kysely<Tables>, username: string) {
  return db.selectFrom('users').select(['id', 'username', 'password_hash', 'disabled']).where('username', '=', username).executeTakeFirst();
}

/** A user's name and state, for a token subject. */
export async function findUserById(db: Kysely<Tables>, id: string) {
  return db.selectFrom('users').select(['id', 'username', 'disabled']).where('id', '=', id).executeTakeFirst();
}

/** An API client's name, for a token subject. */
export async function findApiClientById(db: Kysely<Tables>, id: string) {
  return db.selectFrom('api_clients').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
}
