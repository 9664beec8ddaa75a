import type { FastifyRequest } from 'fastify';
import { PrivxError } from '../../../errors.js';
import { keyedHash } from '../../../lib/secrets.js';
import { timestamp } from '../../../lib/time.js';
import { recordAuditEvent } from '../../monitor-service/audit-log.js';
import type { PrincipalType } from '../principal.js';
import { loadSubject } from '../subjects.js';
import type { Grant, GrantContext, TokenRequestBody } from './types.js';

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
 * family. Presenting a used one means it was copied, so the whole family is revoked.
 *
 * Refresh tokens are self-contained and MAC'd (see TokenService.issue); redeeming one records its
 * id with a unique insert, which is what detects a second use on any node.
 */
export const refreshTokenGrant: Grant = async (grant, request, body) => {
  if (!body.refresh_token) throw new PrivxError(400, 'REQUIRED_VALUE_MISSING', 'refresh_token is required', { property: 'refresh_token' });
  const { context, tokens } = grant;
  const token = body.refresh_token;
  const claims = tokens.readRefreshToken(token);
  if (!claims) return legacyRefresh(grant, request, body, token);

  if (claims.expiresAtMs <= context.clock.now().getTime()) throw invalidGrant('refresh token is invalid, revoked or expired');
  if (body.client_id && body.client_id !== claims.clientId) throw invalidGrant('refresh token was issued to another client');
  if (await tokens.refreshRevoked(claims.familyId, claims.type, claims.principalId, claims.issuedAtMs)) {
    throw invalidGrant('refresh token is invalid, revoked or expired');
  }
  if (!(await tokens.redeemRefreshToken(token, claims))) await reused(grant, request, claims);
  return rotate(grant, claims);
};

async function reused({ context, tokens }: GrantContext, request: FastifyRequest, presented: Presented): Promise<never> {
  await tokens.revokeRefreshFamily(presented.familyId);
  await recordAuditEvent(context.database.db, {
    type: 'refresh_token_reused',
    outcome: 'deny',
    principal: { type: presented.type, id: presented.principalId, name: presented.principalId },
    sourceAddress: request.ip,
    details: { family_id: presented.familyId },
    at: context.clock.now(),
  });
  throw invalidGrant('refresh token was already used; its family is revoked');
}

async function rotate({ context, tokens }: GrantContext, presented: Presented) {
  const subject = await loadSubject(context, presented.type, presented.principalId);
  if (!subject) throw invalidGrant('the principal no longer exists or is disabled');
  return tokens.issue(subject, presented.clientId, presented.familyId);
}

/**
 * Refresh tokens issued before they became self-contained were random strings stored by their
 * keyed hash; they keep working (once each) until they expire, and rotate into the new form.
 */
async function legacyRefresh(grant: GrantContext, request: FastifyRequest, body: TokenRequestBody, token: string) {
  const { context, tokens } = grant;
  const db = context.database.db;
  const now = context.clock.now();
  const tokenHash = keyedHash(token, context.secretKey);
  const row = await db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  if (!row || row.revoked !== null || row.expires <= timestamp(now)) throw invalidGrant('refresh token is invalid, revoked or expired');
  const presented: Presented = { familyId: row.family_id, type: row.principal_type as PrincipalType, principalId: row.principal_id, clientId: row.client_id };
  if (body.client_id && body.client_id !== presented.clientId) throw invalidGrant('refresh token was issued to another client');
  if (await tokens.refreshRevoked(presented.familyId, presented.type, presented.principalId, Date.parse(row.created))) {
    throw invalidGrant('refresh token is invalid, revoked or expired');
  }
  const consumed = await db.updateTable('refresh_tokens').set({ used: timestamp(now) }).where('id', '=', row.id).where('used', 'is', null).executeTakeFirst();
  if (Number(consumed.numUpdatedRows) !== 1) await reused(grant, request, presented);
  return rotate(grant, presented);
}
