import type { AppContext } from '../../context.js';
import { keyedHash, safeEqual } from '../../lib/secrets.js';
import type { PasswordGrantResolver } from '../auth/client-credentials.js';
import type { SubjectLoader } from '../auth/subjects.js';
import type { TokenSubject } from '../auth/token-service.js';

function subjectOf(row: { id: string; name: string }): TokenSubject {
  return { type: 'trusted-client', id: row.id, name: row.name, roles: [], permissions: [] };
}

/**
 * Registered trusted clients (web proxies): Basic = oauth_client_id:oauth_client_secret,
 * username = trusted client id, password = the client secret handed out at registration. Only
 * enabled, registered clients get a token; they act with the `service` scope.
 */
export const trustedClientResolver: PasswordGrantResolver = async (context: AppContext, credentials) => {
  const row = await context.database.db
    .selectFrom('trusted_clients')
    .select(['id', 'name', 'enabled', 'registered', 'oauth_client_secret_hash', 'client_secret_hash'])
    .where('oauth_client_id', '=', credentials.oauthClientId)
    .executeTakeFirst();
  if (!row) return undefined;
  if (!safeEqual(keyedHash(credentials.oauthClientSecret, context.secretKey), row.oauth_client_secret_hash ?? '')) return null;
  return {
    account: row.id,
    subject() {
      const userOk = safeEqual(credentials.username, row.id);
      const secretOk = safeEqual(keyedHash(credentials.password, context.secretKey), row.client_secret_hash ?? '');
      if (!(userOk && secretOk) || row.enabled !== 1 || row.registered !== 1) return null;
      return subjectOf(row);
    },
  };
};

/** Refresh: the trusted client must still exist, be enabled and registered. */
export const trustedClientSubjectLoader: SubjectLoader = async (context, id) => {
  const row = await context.database.db.selectFrom('trusted_clients').select(['id', 'name', 'enabled', 'registered']).where('id', '=', id).executeTakeFirst();
  if (!row || row.enabled !== 1 || row.registered !== 1) return null;
  return subjectOf(row);
};
