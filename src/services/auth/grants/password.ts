import { PrivxError } from '../../../errors.js';
import { passwordGrantResolvers, type AuthenticatedClient, type PasswordGrantCredentials } from '../client-credentials.js';
import type { Grant, GrantContext } from './types.js';

function invalidClient(message: string): PrivxError {
  return new PrivxError(401, 'INVALID_CLIENT', message, { headers: { 'www-authenticate': 'Basic realm="privgate"' } });
}

/** `Authorization: Basic base64(id:secret)` → the two halves; undefined when absent or malformed. */
export function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const match = header ? /^Basic[ ]+([A-Za-z0-9+/]+=*)$/i.exec(header) : null;
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  // RFC 6749 §2.3.1: both halves are form-urlencoded before Basic encoding.
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  } catch {
    return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
  }
}

/** The first resolver that knows the OAuth client id decides: authenticated, or null (wrong or unknown client). */
async function authenticateClient(context: GrantContext['context'], credentials: PasswordGrantCredentials, address: string): Promise<AuthenticatedClient | null> {
  for (const resolve of passwordGrantResolvers) {
    const client = await resolve(context, credentials, address);
    if (client !== undefined) return client;
  }
  return null;
}

/**
 * Resource-owner password grant for confidential clients (API clients and registered trusted
 * clients), exactly as the PrivX Python SDK sends it.
 *
 * Throttling (see LoginThrottle): a failure counts against the caller's address and — only when
 * the client's Basic credentials checked out — against that client's own account, never against
 * the submitted username, so nobody can lock a client out without its credentials. A failure is
 * answered only once counted within the limits; a success only while the counters read with the
 * client are below them. Successes write nothing unless they clear earlier failures.
 */
export const passwordGrant: Grant = async ({ context, tokens, throttle }, request, body) => {
  const basic = basicCredentials(request.headers.authorization);
  if (!basic) throw invalidClient('client authentication with HTTP Basic is required');
  if (!body.username || !body.password) {
    throw new PrivxError(400, 'REQUIRED_VALUE_MISSING', 'username and password are required', { property: body.username ? 'password' : 'username' });
  }
  const credentials = { oauthClientId: basic.id, oauthClientSecret: basic.secret, username: body.username, password: body.password };
  const client = await authenticateClient(context, credentials, request.ip);
  if (client) {
    const counters = client.counters ?? (await throttle.read(request.ip, client.account));
    await throttle.enforce(counters);
    const subject = client.subject();
    if (subject) {
      await throttle.clearAccount(client.account, counters);
      return tokens.issue(subject, basic.id);
    }
  }
  await throttle.countFailure(request.ip, client?.account, 'login_failed', client ? 'invalid username or secret' : 'invalid client credentials', credentials.username);
  throw invalidClient('invalid client credentials');
};
