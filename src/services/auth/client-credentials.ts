import crypto from 'node:crypto';
import type { AppContext } from '../../context.js';
import { limitFromJson } from '../../lib/contextual-limit.js';
import { keyedHash, safeEqual } from '../../lib/secrets.js';
import { findTrustedClientForGrant, selectApiClientAndCounters, type ApiClientRoleRow } from './repository.js';
import { subjectWithRoles, trustedClientSubject } from './subjects.js';
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

/**
 * Registered trusted clients (web proxies): Basic = oauth_client_id:oauth_client_secret,
 * username = trusted client id, password = the client secret handed out at registration. Only
 * enabled, registered clients get a token; they act with the `service` scope.
 */
export const trustedClientResolver: PasswordGrantResolver = async (context: AppContext, credentials) => {
  const row = await findTrustedClientForGrant(context.database.db, credentials.oauthClientId);
  if (!row) return undefined;
  if (!safeEqual(keyedHash(credentials.oauthClientSecret, context.secretKey), row.oauth_client_secret_hash ?? '')) return null;
  return {
    account: row.id,
    subject() {
      const userOk = safeEqual(credentials.username, row.id);
      const secretOk = safeEqual(keyedHash(credentials.password, context.secretKey), row.client_secret_hash ?? '');
      if (!(userOk && secretOk) || row.enabled !== 1 || row.registered !== 1) return null;
      return trustedClientSubject(row);
    },
  };
};

/** Asked in order: API clients, then trusted clients. */
export const passwordGrantResolvers: PasswordGrantResolver[] = [apiClientResolver, trustedClientResolver];
