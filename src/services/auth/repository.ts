import type { Kysely } from 'kysely';
import { preparedQuery } from '../../db/index.js';
import type { Tables } from '../../db/schema.js';

/**
 * The auth service's SQL: login requests, authorization codes and the accounts they log in; token
 * revocations, redeemed refresh tokens and signing keys.
 */

type LoginRequest = Tables['login_requests'];
type AuthorizationCode = Tables['authorization_codes'];
type TokenRevocation = Tables['token_revocations'];
type RedeemedRefreshToken = Tables['refresh_tokens'];
type SigningKeyRow = Tables['signing_keys'];

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

export async function findAuthorizationCode(db: Kysely<Tables>, codeHash: string): Promise<AuthorizationCode | undefined> {
  return db.selectFrom('authorization_codes').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
}

/** Marks an unused authorization code used; false when it was already used (or is gone). */
export async function consumeAuthorizationCode(db: Kysely<Tables>, codeHash: string, at: string): Promise<boolean> {
  const consumed = await db
    .updateTable('authorization_codes')
    .set({ used: at })
    .where('code_hash', '=', codeHash)
    .where('used', 'is', null)
    .executeTakeFirst();
  return Number(consumed.numUpdatedRows) === 1;
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

/** A trusted client as its password grant checks it (with its secrets' keyed hashes). */
export async function findTrustedClientForGrant(db: Kysely<Tables>, oauthClientId: string) {
  return db
    .selectFrom('trusted_clients')
    .select(['id', 'name', 'enabled', 'registered', 'oauth_client_secret_hash', 'client_secret_hash'])
    .where('oauth_client_id', '=', oauthClientId)
    .executeTakeFirst();
}

/** A trusted client's name and state, for a token subject. */
export async function findTrustedClientById(db: Kysely<Tables>, id: string) {
  return db.selectFrom('trusted_clients').select(['id', 'name', 'enabled', 'registered']).where('id', '=', id).executeTakeFirst();
}

// ─── the password grant of an API client ────────────────────────────────────────────────────

/** An API client's row joined with its roles: one row per role, role columns null when it has none. */
export interface ApiClientRoleRow {
  id: string | null;
  name: string | null;
  secret_hash: string | null;
  oauth_client_secret_hash: string | null;
  role_id: string | null;
  role_name: string | null;
  role_permissions: string | null;
  role_context: string | null;
  address_n: number | string | null;
  address_window_start: string | null;
  account_n: number | string | null;
  account_window_start: string | null;
}

const API_CLIENT_COLUMNS = [
  'api_clients.id as id',
  'api_clients.name as name',
  'api_clients.secret_hash as secret_hash',
  'api_clients.oauth_client_secret_hash as oauth_client_secret_hash',
  'roles.id as role_id',
  'roles.name as role_name',
  'roles.permissions as role_permissions',
  'roles.context as role_context',
] as const;

/**
 * Everything the password grant of an API client reads, in one statement: the API client holding an
 * OAuth client id with its roles (one row per role), and the throttle counters of the caller's
 * address and of that client. A one-row probe keeps the address counter when no client matches.
 */
export const selectApiClientAndCounters = preparedQuery((db, oauthClientId: string, address: string) =>
  db
    .selectFrom(db.selectNoFrom((eb) => eb.val(1).as('one')).as('probe'))
    .leftJoin('api_clients', (join) => join.on('api_clients.oauth_client_id', '=', oauthClientId))
    .leftJoin('role_members', (join) => join.onRef('role_members.principal_id', '=', 'api_clients.id').on('role_members.principal_type', '=', 'api-client'))
    .leftJoin('roles', 'roles.id', 'role_members.role_id')
    .leftJoin('login_attempts as address_counter', (join) => join.on('address_counter.scope', '=', 'address').on('address_counter.name', '=', address))
    .leftJoin('login_attempts as account_counter', (join) => join.on('account_counter.scope', '=', 'account').onRef('account_counter.name', '=', 'api_clients.id'))
    .select([
      ...API_CLIENT_COLUMNS,
      'address_counter.n as address_n',
      'address_counter.window_start as address_window_start',
      'account_counter.n as account_n',
      'account_counter.window_start as account_window_start',
    ]),
);

// ─── token revocations ─────────────────────────────────────────────────────────────────────

/**
 * Every revocation key of a token in one statement (a key may be repeated when a token has fewer).
 * On the token check's hot path: compiled once per database handle (see {@link preparedQuery}), and
 * `.now()` answers without waiting where SQLite's read connection can.
 */
export const selectRevocations = preparedQuery((db, first: string, second: string, third: string) =>
  db.selectFrom('token_revocations').select(['key', 'issued_before']).where('key', 'in', [first, second, third]),
);

/** The revocation rows of `keys`, as `db` (perhaps a transaction) sees them now. */
export async function findRevocations(db: Kysely<Tables>, keys: string[]): Promise<Array<Pick<TokenRevocation, 'key' | 'issued_before'>>> {
  return db.selectFrom('token_revocations').select(['key', 'issued_before']).where('key', 'in', keys).execute();
}

/** Records a revocation; one already recorded under its key is left as it is. */
export async function insertRevocation(db: Kysely<Tables>, revocation: TokenRevocation): Promise<void> {
  await db
    .insertInto('token_revocations')
    .values(revocation)
    .onConflict((conflict) => conflict.column('key').doNothing())
    .execute();
}

/** Records a revocation, replacing the cut-off and expiry of one already recorded under its key. */
export async function upsertRevocation(db: Kysely<Tables>, revocation: TokenRevocation): Promise<void> {
  await db
    .insertInto('token_revocations')
    .values(revocation)
    .onConflict((conflict) => conflict.column('key').doUpdateSet({ issued_before: revocation.issued_before, expires: revocation.expires }))
    .execute();
}

// ─── refresh tokens ────────────────────────────────────────────────────────────────────────

/** Records a redeemed refresh token; false when its id was recorded before (the unique key decides, also across nodes). */
export async function insertRedeemedRefreshToken(db: Kysely<Tables>, token: RedeemedRefreshToken): Promise<boolean> {
  const result = await db
    .insertInto('refresh_tokens')
    .values(token)
    .onConflict((conflict) => conflict.doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
}

// ─── signing keys ──────────────────────────────────────────────────────────────────────────

/** Every signing key, newest first. */
export async function selectSigningKeys(db: Kysely<Tables>): Promise<SigningKeyRow[]> {
  return db.selectFrom('signing_keys').selectAll().orderBy('created', 'desc').execute();
}

/** The public JWK of every signing key, newest first. */
export async function selectPublicJwks(db: Kysely<Tables>): Promise<string[]> {
  const rows = await db.selectFrom('signing_keys').select(['public_jwk']).orderBy('created', 'desc').execute();
  return rows.map((row) => row.public_jwk);
}

export async function insertSigningKey(db: Kysely<Tables>, key: SigningKeyRow): Promise<void> {
  await db.insertInto('signing_keys').values(key).execute();
}

/** Retires the signing key(s) not yet retired, as of `at`. */
export async function retireSigningKeys(db: Kysely<Tables>, at: string): Promise<void> {
  await db.updateTable('signing_keys').set({ retired: at }).where('retired', 'is', null).execute();
}

/** Deletes the keys retired before `before` (every token they signed has expired). */
export async function deleteSigningKeysRetiredBefore(db: Kysely<Tables>, before: string): Promise<void> {
  await db.deleteFrom('signing_keys').where('retired', '<', before).execute();
}
