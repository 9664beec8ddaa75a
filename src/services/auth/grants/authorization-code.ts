import crypto from 'node:crypto';
import { PrivxError } from '../../../errors.js';
import { keyedHash, safeEqual } from '../../../lib/secrets.js';
import { timestamp } from '../../../lib/time.js';
import { isAllowedRedirect, PKCE_VALUE } from '../oauth-clients.js';
import { consumeAuthorizationCode, findAuthorizationCode } from '../repository.js';
import { loadSubject } from '../subjects.js';
import type { Grant } from './types.js';

function invalidGrant(message: string, property?: string): PrivxError {
  return new PrivxError(400, 'INVALID_GRANT', message, property ? { property } : {});
}

/**
 * Authorization code with PKCE S256 for users (the Go SDK's flow). The code is single-use and
 * bound to its client, redirect URI and code challenge.
 */
export const authorizationCodeGrant: Grant = async ({ context, tokens }, request, body) => {
  const clientId = body.client_id ?? '';
  const redirectUri = body.redirect_uri ?? '';
  if (!isAllowedRedirect(clientId, redirectUri)) throw invalidGrant('unknown client_id or redirect_uri', 'client_id');
  if (!body.code) throw new PrivxError(400, 'REQUIRED_VALUE_MISSING', 'code is required', { property: 'code' });
  if (!body.code_verifier || !PKCE_VALUE.test(body.code_verifier)) throw invalidGrant('code_verifier is missing or malformed', 'code_verifier');

  const db = context.database.db;
  const now = context.clock.now();
  const codeHash = keyedHash(body.code, context.secretKey);
  const row = await findAuthorizationCode(db, codeHash);
  if (!row || row.used !== null || row.expires <= timestamp(now)) throw invalidGrant('authorization code is invalid, used or expired', 'code');
  if (row.client_id !== clientId || row.redirect_uri !== redirectUri) throw invalidGrant('authorization code was issued to another client', 'code');
  const challenge = crypto.createHash('sha256').update(body.code_verifier).digest('base64url');
  if (!safeEqual(challenge, row.code_challenge)) throw invalidGrant('code_verifier does not match the code challenge', 'code_verifier');

  // Consume atomically: of two exchanges racing with one code, exactly one wins.
  if (!(await consumeAuthorizationCode(db, codeHash, timestamp(now)))) throw invalidGrant('authorization code is invalid, used or expired', 'code');

  const subject = await loadSubject(context, 'user', row.user_id, { at: now, address: request.ip });
  if (!subject) throw invalidGrant('the user no longer exists or is disabled');
  return tokens.issue(subject, clientId);
};
