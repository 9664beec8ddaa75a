import type { FastifyRequest } from 'fastify';
import { PrivxError } from '../../../errors.js';
import type { PrincipalType } from '../../../access.js';
import { loadSubject } from '../subjects.js';
import { revokeReusedRefreshFamily } from '../use-cases.js';
import type { Grant, GrantContext } from './types.js';

function invalidGrant(message: string): PrivxError {
  return new PrivxError(400, 'INVALID_GRANT', message, { property: 'refresh_token' });
}

interface Presented {
  familyId: string;
  type: PrincipalType;
  principalId: string;
  clientId: string;
}

/**
 * Refresh with rotation: each refresh token works once and is replaced by a new one of the same
 * family. Presenting a used one means it was copied, so the whole family is revoked: its refresh
 * tokens and the access tokens minted with them (they name the family in their `fam` claim).
 *
 * Refresh tokens are self-contained and MAC'd (see TokenService.issue); redeeming one records its
 * id with a unique insert, which is what detects a second use on any node.
 */
export const refreshTokenGrant: Grant = async (grant, request, body) => {
  if (!body.refresh_token) throw new PrivxError(400, 'REQUIRED_VALUE_MISSING', 'refresh_token is required', { property: 'refresh_token' });
  const { context, tokens } = grant;
  const token = body.refresh_token;
  const claims = tokens.readRefreshToken(token);
  if (!claims) throw invalidGrant('refresh token is invalid, revoked or expired');

  if (claims.expiresAtMs <= context.clock.now().getTime()) throw invalidGrant('refresh token is invalid, revoked or expired');
  if (body.client_id && body.client_id !== claims.clientId) throw invalidGrant('refresh token was issued to another client');
  if (await tokens.refreshRevoked(claims.familyId, claims.type, claims.principalId, claims.issuedAtMs)) {
    throw invalidGrant('refresh token is invalid, revoked or expired');
  }
  if (!(await tokens.redeemRefreshToken(token, claims))) await reused(grant, request, claims);
  return rotate(grant, request, claims);
};

/** A copied refresh token: the family's refresh and access tokens are revoked, with its audit event. */
async function reused({ context, tokens }: GrantContext, request: FastifyRequest, presented: Presented): Promise<never> {
  await revokeReusedRefreshFamily(context, tokens, presented, request.ip);
  throw invalidGrant('refresh token was already used; its family and the access tokens minted from it are revoked');
}

async function rotate({ context, tokens }: GrantContext, request: FastifyRequest, presented: Presented) {
  const subject = await loadSubject(context, presented.type, presented.principalId, { at: context.clock.now(), address: request.ip });
  if (!subject) throw invalidGrant('the principal no longer exists or is disabled');
  return tokens.issue(subject, presented.clientId, presented.familyId);
}
