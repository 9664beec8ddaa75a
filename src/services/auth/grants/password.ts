import { PrivxError } from '../../../errors.js';
import { passwordGrantResolvers } from '../client-credentials.js';
import type { Grant } from './types.js';

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

/**
 * Resource-owner password grant for confidential clients (API clients and registered trusted
 * clients), exactly as the PrivX Python SDK sends it.
 *
 * Throttling: every attempt is counted against the caller's address before anything is checked;
 * only once the client's Basic credentials check out is it counted against that client's account
 * too (and refused with 429 if the account is at its limit) before the username/password half is
 * checked. Wrong client credentials therefore count against the address alone.
 */
export const passwordGrant: Grant = async ({ context, tokens, throttle }, request, body) => {
  const basic = basicCredentials(request.headers.authorization);
  if (!basic) throw invalidClient('client authentication with HTTP Basic is required');
  if (!body.username || !body.password) {
    throw new PrivxError(400, 'REQUIRED_VALUE_MISSING', 'username and password are required', { property: body.username ? 'password' : 'username' });
  }
  const credentials = { oauthClientId: basic.id, oauthClientSecret: basic.secret, username: body.username, password: body.password };
  return throttle.attempt(request.ip, undefined, async (attempt) => {
    for (const resolve of passwordGrantResolvers) {
      const client = await resolve(context, credentials);
      if (client === undefined) continue;
      if (client === null) break;
      await throttle.countAccount(attempt, client.account);
      const subject = client.subject();
      if (subject === null) {
        await throttle.fail(attempt, 'login_failed', 'invalid username or secret', credentials.username);
        throw invalidClient('invalid client credentials');
      }
      await throttle.succeed(attempt);
      return tokens.issue(subject, basic.id);
    }
    await throttle.fail(attempt, 'login_failed', 'invalid client credentials', credentials.username);
    throw invalidClient('invalid client credentials');
  });
};
