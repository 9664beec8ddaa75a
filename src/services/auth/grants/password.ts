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
async function authenticateClient(context: GrantContext['context'], credentials: PasswordGrantCredentials): Promise<AuthenticatedClient | null> {
  for (const resolve of passwordGrantResolvers) {
    const client = await resolve(context, credentials);
    if (client !== undefined) return client;
  }
  return null;
}

/**
 * Resource-owner password grant for confidential clients (API clients and registered trusted
 * clients), exactly as the PrivX Python SDK sends it.
 *
 * Throttling: the attempt is counted against the caller's address and — only when the client's
 * Basic credentials checked out — against that client's own account, in one statement before any
 * verdict is given (429 when either is at its limit). Wrong client credentials therefore count
 * against the address alone: the submitted username is never an account anyone can lock.
 */
export const passwordGrant: Grant = async ({ context, tokens, throttle }, request, body) => {
  const basic = basicCredentials(request.headers.authorization);
  if (!basic) throw invalidClient('client authentication with HTTP Basic is required');
  if (!body.username || !body.password) {
    throw new PrivxError(400, 'REQUIRED_VALUE_MISSING', 'username and password are required', { property: body.username ? 'password' : 'username' });
  }
  const credentials = { oauthClientId: basic.id, oauthClientSecret: basic.secret, username: body.username, password: body.password };
  const client = await authenticateClient(context, credentials);
  return throttle.attempt(request.ip, client?.account, async (attempt) => {
    const subject = client?.subject() ?? null;
    if (subject === null) {
      await throttle.fail(attempt, 'login_failed', client ? 'invalid username or secret' : 'invalid client credentials', credentials.username);
      throw invalidClient('invalid client credentials');
    }
    await throttle.succeed(attempt);
    return tokens.issue(subject, basic.id);
  });
};
