import crypto from 'node:crypto';
import type { AppContext } from '../../context.js';
import { preparedQuery } from '../../db/index.js';
import { keyedHash } from '../../lib/secrets.js';
import { trustedClientResolver } from '../authorizer/trusted-client-auth.js';
import { subjectWithRoles } from './subjects.js';
import { recentFailureCounts, type FailureCounts } from './throttle.js';
import type { TokenSubject } from './token-service.js';

/** Credentials of a password grant: Basic client credentials plus username/password. */
export interface PasswordGrantCredentials {
  oauthClientId: string;
  oauthClientSecret: string;
  username: string;
  password: string;
}

/**
 * Resolves a confidential client's password grant to a token subject. `undefined` means "not a
 * client of mine" (the next resolver is asked); `null` means "mine, but the credentials are wrong".
 */
export type PasswordGrantResolver = (context: AppContext, credentials: PasswordGrantCredentials) => Promise<TokenSubject | null | undefined>;

/** An API client's row joined with its roles: one row per role, or one row of nulls (no such client / no roles). */
interface ApiClientRoleRow {
  id: string | null;
  name: string | null;
  secret_hash: string | null;
  oauth_client_secret_hash: string | null;
  role_id: string | null;
  role_name: string | null;
  role_permissions: string | null;
}

const API_CLIENT_COLUMNS = [
  'api_clients.id as id',
  'api_clients.name as name',
  'api_clients.secret_hash as secret_hash',
  'api_clients.oauth_client_secret_hash as oauth_client_secret_hash',
  'roles.id as role_id',
  'roles.name as role_name',
  'roles.permissions as role_permissions',
] as const;

/**
 * The throttle's failure counts for (account, address) and the API client holding an OAuth client
 * id with its roles — everything the password grant reads — in one statement. The counts are
 * uncorrelated subqueries over a one-row probe, so they come back even when no API client matches.
 */
const selectFailuresAndApiClient = preparedQuery((db, account: string, address: string, since: string, oauthClientId: string) =>
  db
    .selectFrom(db.selectNoFrom((eb) => eb.val(1).as('one')).as('probe'))
    .leftJoin('api_clients', (join) => join.on('api_clients.oauth_client_id', '=', oauthClientId))
    .leftJoin('role_members', (join) => join.onRef('role_members.principal_id', '=', 'api_clients.id').on('role_members.principal_type', '=', 'api-client'))
    .leftJoin('roles', 'roles.id', 'role_members.role_id')
    .select((eb) => [...recentFailureCounts(eb as unknown as Parameters<typeof recentFailureCounts>[0], account, address, since), ...API_CLIENT_COLUMNS]),
);

/** The API client alone (for callers that are not the password grant). */
const selectApiClientWithRoles = preparedQuery((db, oauthClientId: string) =>
  db
    .selectFrom('api_clients')
    .leftJoin('role_members', (join) => join.onRef('role_members.principal_id', '=', 'api_clients.id').on('role_members.principal_type', '=', 'api-client'))
    .leftJoin('roles', 'roles.id', 'role_members.role_id')
    .select(API_CLIENT_COLUMNS)
    .where('api_clients.oauth_client_id', '=', oauthClientId),
);

/**
 * Constant-time comparison for values whose length is no secret (keyed hashes are always 64 hex
 * characters, client ids are UUIDs): unequal lengths fail at once, equal ones compare in constant time.
 */
function sameValue(presented: string, stored: string | null): boolean {
  if (stored === null) return false;
  const a = Buffer.from(presented, 'utf8');
  const b = Buffer.from(stored, 'utf8');
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** The API-client resolver's decision on rows already read (see {@link PasswordGrantResolver}). */
function apiClientSubject(context: AppContext, credentials: PasswordGrantCredentials, rows: readonly ApiClientRoleRow[]): TokenSubject | null | undefined {
  const row = rows[0];
  if (!row || row.id === null || row.name === null) return undefined;
  const oauthSecretOk = sameValue(keyedHash(credentials.oauthClientSecret, context.secretKey), row.oauth_client_secret_hash);
  const userOk = sameValue(credentials.username, row.id);
  const secretOk = sameValue(keyedHash(credentials.password, context.secretKey), row.secret_hash);
  if (!(oauthSecretOk && userOk && secretOk)) return null;
  const roles = rows
    .flatMap((role) => (role.role_id !== null && role.role_name !== null ? [{ id: role.role_id, name: role.role_name, permissions: JSON.parse(role.role_permissions ?? '[]') as string[] }] : []))
    // By name (code-unit order, like SQLite's binary collation), as rolesOf lists them.
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return subjectWithRoles('api-client', row.id, row.name, roles);
}

/** API clients: Basic = oauth_client_id:oauth_client_secret, username/password = client id/secret. */
export const apiClientResolver: PasswordGrantResolver = async (context, credentials) =>
  apiClientSubject(context, credentials, await selectApiClientWithRoles(context.database.db, credentials.oauthClientId));

/**
 * The password grant's first read, in one statement: the throttle counts for (account, address)
 * and the API client of `credentials`. Returns the counts (for `LoginThrottle.enforce`, which
 * must run before any credential is looked at) and the API-client resolver bound to what was read.
 */
export async function readPasswordGrant(
  context: AppContext,
  credentials: PasswordGrantCredentials,
  account: string,
  address: string,
  since: string,
): Promise<{ counts: FailureCounts | undefined; resolveApiClient: () => TokenSubject | null | undefined }> {
  const rows = await selectFailuresAndApiClient(context.database.db, account, address, since, credentials.oauthClientId);
  return { counts: rows[0], resolveApiClient: () => apiClientSubject(context, credentials, rows) };
}

/** Asked in order; other services (the authorizer's trusted clients) append theirs. */
export const passwordGrantResolvers: PasswordGrantResolver[] = [apiClientResolver, trustedClientResolver];
