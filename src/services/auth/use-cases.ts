import type { Principal, PrincipalType } from '../../access.js';
import type { AppContext } from '../../context.js';
import { PrivxError } from '../../errors.js';
import { hashPassword, keyedHash, randomToken, verifyPassword } from '../../lib/secrets.js';
import { addSeconds, timestamp } from '../../lib/time.js';
import { bumpPolicyVersion } from '../host-store/policy-version-repository.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { inTransaction } from '../role-store/use-cases.js';
import { isAllowedRedirect, PKCE_VALUE } from './oauth-clients.js';
import { consumeLoginRequest, findLoginRequest, findUserForLogin, insertAuthorizationCode, insertLoginRequest } from './repository.js';
import type { LoginThrottle } from './throttle.js';
import type { TokenService } from './token-service.js';

/**
 * Logout ends everything the caller holds, not only the presented token: every access and refresh
 * token of the principal issued until now (on every node) and every web session it opened (web
 * proxies drop them through the policy feed). One transaction with its audit event.
 */
export async function logout(context: AppContext, tokens: TokenService, principal: Principal, sourceAddress: string): Promise<void> {
  await inTransaction({ db: context.database.db, tokens }, async (trx) => {
    await tokens.revokePrincipal(principal.type, principal.id, trx);
    await recordAuditEvent(trx, { type: 'logout', outcome: 'success', principal, sourceAddress, at: context.clock.now() });
  });
}

/**
 * Starts a new token-signing key and answers its kid. Web proxies verify web-session tokens with
 * the keys in the policy feed, so the policy version is bumped, with the audit event, once the
 * key is stored (the key store writes it on its own).
 */
export async function rotateSigningKey(context: AppContext, tokens: TokenService, actor: Principal): Promise<string> {
  const now = context.clock.now();
  const kid = await tokens.keys.rotate(now);
  await context.database.db.transaction().execute(async (trx) => {
    await bumpPolicyVersion(trx);
    await recordAuditEvent(trx, { type: 'signing_key_rotated', outcome: 'success', principal: actor, objectType: 'signing_key', objectId: kid, at: now });
  });
  return kid;
}

/**
 * `POST /oauth/revoke` (RFC 7009): a refresh token revokes its whole family (with the access tokens
 * minted from it), a valid access token itself; anything else is ignored.
 */
export async function revokeToken(tokens: TokenService, token: string): Promise<void> {
  const refresh = tokens.readRefreshToken(token);
  if (refresh) {
    await tokens.revokeRefreshFamily(refresh.familyId);
    return;
  }
  const principal = await tokens.verify(token);
  if (principal) await tokens.revokeAccessToken(principal.jti, principal.expiresAt);
}

/**
 * A refresh token presented a second time was copied: its whole family (refresh tokens and the
 * access tokens minted with them) is revoked, in one transaction with the audit event.
 */
export async function revokeReusedRefreshFamily(
  context: AppContext,
  tokens: TokenService,
  presented: { familyId: string; type: PrincipalType; principalId: string },
  sourceAddress: string,
): Promise<void> {
  await context.database.db.transaction().execute(async (trx) => {
    await tokens.revokeRefreshFamily(presented.familyId, trx);
    await recordAuditEvent(trx, {
      type: 'refresh_token_reused',
      outcome: 'deny',
      principal: { type: presented.type, id: presented.principalId, name: presented.principalId },
      sourceAddress,
      details: { family_id: presented.familyId },
      at: context.clock.now(),
    });
  });
}

const LOGIN_REQUEST_TTL_SECONDS = 600;
const AUTHORIZATION_CODE_TTL_SECONDS = 60;

/** What `GET /oauth/authorize` carries (the user half of authorization code + PKCE). */
export interface AuthorizeRequest {
  client_id: string;
  redirect_uri: string;
  response_type: string;
  state: string;
  code_challenge: string;
  code_challenge_method: string;
}

/** Checks an authorization request and stores it; answers the login token the login page posts back. */
export async function startLogin(context: AppContext, request: AuthorizeRequest): Promise<string> {
  if (!isAllowedRedirect(request.client_id, request.redirect_uri)) {
    throw new PrivxError(400, 'INVALID_CLIENT', 'unknown client_id or redirect_uri', { property: 'redirect_uri' });
  }
  if (request.response_type !== 'code') throw new PrivxError(400, 'INVALID_REQUEST_DATA', 'response_type must be code', { property: 'response_type' });
  if (request.code_challenge_method !== 'S256') throw new PrivxError(400, 'INVALID_REQUEST_DATA', 'code_challenge_method must be S256', { property: 'code_challenge_method' });
  if (!PKCE_VALUE.test(request.code_challenge)) throw new PrivxError(400, 'VALUE_INCORRECT_FORMAT', 'code_challenge is malformed', { property: 'code_challenge' });
  const token = randomToken(32);
  const now = context.clock.now();
  await insertLoginRequest(context.database.db, {
    token_hash: keyedHash(token, context.secretKey),
    client_id: request.client_id,
    redirect_uri: request.redirect_uri,
    state: request.state,
    code_challenge: request.code_challenge,
    created: timestamp(now),
    expires: timestamp(addSeconds(now, LOGIN_REQUEST_TTL_SECONDS)),
    used: null,
  });
  return token;
}

// Compared against when the user does not exist, so a failed lookup costs as much as a wrong password.
let dummyPasswordHash: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  if (!dummyPasswordHash) dummyPasswordHash = hashPassword(randomToken(16));
  return dummyPasswordHash;
}

/**
 * Logs a user in against a login token: throttled per account and address, the token used once,
 * then an authorization code for the token's client, stored with the `login` audit event.
 */
export async function login(
  context: AppContext,
  throttle: LoginThrottle,
  input: { username: string; password: string; token: string },
  sourceAddress: string,
): Promise<{ code: string; state: string }> {
  const db = context.database.db;
  const now = context.clock.now();
  const tokenHash = keyedHash(input.token, context.secretKey);
  const loginRequest = await findLoginRequest(db, tokenHash);
  if (!loginRequest || loginRequest.used !== null || loginRequest.expires <= timestamp(now)) {
    throw new PrivxError(400, 'INVALID_GRANT', 'login token is invalid, used or expired', { property: 'token' });
  }
  // Counted against the account and the address before the (slow) password check, so parallel guesses cannot outrun the limit.
  const user = await throttle.attempt(sourceAddress, input.username, async (attempt) => {
    const found = await findUserForLogin(db, input.username);
    const passwordOk = await verifyPassword(input.password, found?.password_hash ?? (await dummyHash()));
    if (!found || !passwordOk || found.disabled) {
      await throttle.fail(attempt, 'login_failed', found?.disabled ? 'user disabled' : 'invalid username or password', input.username);
      throw new PrivxError(401, 'UNAUTHORIZED', 'invalid username or password');
    }
    if (!(await consumeLoginRequest(db, tokenHash, timestamp(now)))) throw new PrivxError(400, 'INVALID_GRANT', 'login token is invalid, used or expired', { property: 'token' });
    await throttle.succeed(attempt);
    return found;
  });
  const code = randomToken(32);
  await db.transaction().execute(async (trx) => {
    await insertAuthorizationCode(trx, {
      code_hash: keyedHash(code, context.secretKey),
      user_id: user.id,
      client_id: loginRequest.client_id,
      redirect_uri: loginRequest.redirect_uri,
      code_challenge: loginRequest.code_challenge,
      created: timestamp(now),
      expires: timestamp(addSeconds(now, AUTHORIZATION_CODE_TTL_SECONDS)),
      used: null,
    });
    await recordAuditEvent(trx, { type: 'login', outcome: 'success', principal: { type: 'user', id: user.id, name: user.username }, sourceAddress, at: now });
  });
  return { code, state: loginRequest.state };
}
