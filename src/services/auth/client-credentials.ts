import crypto from 'node:crypto';
import type { AppContext } from '../../context.js';
import { preparedQuery } from '../../db/index.js';
import { limitFromJson } from '../../lib/contextual-limit.js';
import { keyedHash } from '../../lib/secrets.js';
import { trustedClientResolver } from '../authorizer/trusted-client-auth.js';
import { subjectWithRoles } from './subjects.js';
import type { CounterReadings } from './throttle.js';
import type { TokenSubject } from './token-service.js';

/** Credentials of a password grant: Basic client credentials plus username/password. */
export interface PasswordGrantCredentials {
  oauthClientId: string;
  oauthClientSecret: string;
  username: string;
  password: string;
}

/**
 * A confidential client whose HTTP Basic credentials (oauth_client_id:oauth_client_secret) checked
 * out. Only then is the password half of the grant checked, and only then do its failures count
 * against an account — the client's own — so nobody can lock a client out without its credentials.
 */
export interface AuthenticatedClient {
  /** The principal the token would be for (the API client's or trusted client's id). */
  account: string;
  /** The throttle counters of the caller's address and this account, when read with the client. */
  counters?: CounterReadings;
  /** The username/password half: the token subject, or null when it is wrong or the client may not have a token. */
  subject(): TokenSubject | null;
}

/**
 * Resolves a confidential client's password grant. `undefined` means "not a client of mine" (the
 * next resolver is asked); `null` means "mine, but the client credentials are wrong".
 */
export type PasswordGrantResolver = (context: AppContext, credentials: PasswordGrantCredentials, address: string) => Promise<AuthenticatedClient | null | undefined>;

/** An API client's row joined with its roles: one row per role, role columns null when it has none. */
interface ApiClientRoleRow {
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
const selectApiClientAndCounters = preparedQuery((db, oauthClientId: string, address: string) =>
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

/** API clients: Basic = oauth_client_id:oauth_client_secret, username/password = client id/secret. */
export const apiClientResolver: PasswordGrantResolver = async (context, credentials, address) => {
  const rows: readonly ApiClientRoleRow[] = await selectApiClientAndCounters(context.database.db, credentials.oauthClientId, address);
  const row = rows[0];
  if (!row || row.id === null || row.name === null) return undefined;
  if (!sameValue(keyedHash(credentials.oauthClientSecret, context.secretKey), row.oauth_client_secret_hash)) return null;
  const { id, name } = row;
  return {
    account: id,
    counters: {
      address: { n: row.address_n, window_start: row.address_window_start },
      account: { n: row.account_n, window_start: row.account_window_start },
    },
    subject() {
      const userOk = sameValue(credentials.username, id);
      const secretOk = sameValue(keyedHash(credentials.password, context.secretKey), row.secret_hash);
      if (!(userOk && secretOk)) return null;
      const roles = rows
        .flatMap((role) =>
          role.role_id !== null && role.role_name !== null
            ? [{ id: role.role_id, name: role.role_name, permissions: JSON.parse(role.role_permissions ?? '[]') as string[], context: limitFromJson(role.role_context) }]
            : [],
        )
        // By name (code-unit order, like SQLite's binary collation), as rolesOf lists them.
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return subjectWithRoles('api-client', id, name, roles, { at: context.clock.now(), address });
    },
  };
};

/** Asked in order; other services (the authorizer's trusted clients) append theirs. */
export const passwordGrantResolvers: PasswordGrantResolver[] = [apiClientResolver, trustedClientResolver];
