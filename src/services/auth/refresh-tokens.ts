import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { keyedHash } from '../../lib/secrets.js';
import { timestamp } from '../../lib/time.js';
import type { PrincipalType } from '../../access.js';
import { insertRedeemedRefreshToken } from './repository.js';

/**
 * Refresh tokens: self-contained and MAC'd with a key derived from the installation secret, so
 * issuing one writes nothing. Redeeming one records it ({@link redeemRefreshToken}); revoking goes
 * through `token_revocations` (revocations.ts).
 */

/** What a refresh token says about itself; its MAC vouches for every field. */
export interface RefreshClaims {
  /** Unique per token: redeeming records it, so a second redemption is detected. */
  id: string;
  familyId: string;
  type: PrincipalType;
  principalId: string;
  clientId: string;
  issuedAtMs: number;
  expiresAtMs: number;
}

/** Refresh tokens look like `rt1.<base64url JSON>.<base64url HMAC-SHA-256>`. */
const REFRESH_PREFIX = 'rt1.';
const REFRESH_TAG_CHARS = 43;
const MAX_REFRESH_TOKEN_LENGTH = 2048;

/** Mints and reads refresh tokens with the MAC key derived from the installation secret. */
export class RefreshTokenCodec {
  readonly #key: Buffer;

  constructor(secretKey: Buffer) {
    this.#key = crypto.createHmac('sha256', secretKey).update('privgate refresh token v1').digest();
  }

  private tag(body: string): string {
    return crypto.createHmac('sha256', this.#key).update(body).digest('base64url');
  }

  mint(claims: RefreshClaims): string {
    const payload = [claims.id, claims.familyId, claims.type, claims.principalId, claims.clientId, claims.issuedAtMs, claims.expiresAtMs];
    const body = `${REFRESH_PREFIX}${Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url')}`;
    return `${body}.${this.tag(body)}`;
  }

  /**
   * The claims of a refresh token this installation issued, or null when the token is not one (or
   * was altered). Says nothing about expiry, revocation or earlier use.
   */
  read(token: string): RefreshClaims | null {
    if (typeof token !== 'string' || token.length > MAX_REFRESH_TOKEN_LENGTH || !token.startsWith(REFRESH_PREFIX)) return null;
    const dot = token.lastIndexOf('.');
    if (dot <= REFRESH_PREFIX.length || token.length - dot - 1 !== REFRESH_TAG_CHARS) return null;
    const body = token.slice(0, dot);
    const expected = Buffer.from(this.tag(body), 'latin1');
    const presented = Buffer.from(token.slice(dot + 1), 'latin1');
    if (presented.length !== expected.length || !crypto.timingSafeEqual(presented, expected)) return null;
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(body.slice(REFRESH_PREFIX.length), 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    if (!Array.isArray(payload) || payload.length !== 7) return null;
    const [id, familyId, type, principalId, clientId, issuedAtMs, expiresAtMs] = payload as unknown[];
    if (typeof id !== 'string' || typeof familyId !== 'string' || typeof principalId !== 'string' || typeof clientId !== 'string') return null;
    if (type !== 'user' && type !== 'api-client' && type !== 'trusted-client') return null;
    if (typeof issuedAtMs !== 'number' || typeof expiresAtMs !== 'number') return null;
    return { id, familyId, type, principalId, clientId, issuedAtMs, expiresAtMs };
  }
}

/**
 * Records that a refresh token was redeemed at `now`. True the first time; false when it had been
 * redeemed before (on any node), i.e. the token was copied. The record is a unique insert, so of
 * two redemptions racing with one token exactly one wins, also across nodes.
 */
export async function redeemRefreshToken(db: Kysely<Tables>, secretKey: Buffer, token: string, claims: RefreshClaims, now: Date): Promise<boolean> {
  return insertRedeemedRefreshToken(db, {
    id: claims.id,
    token_hash: keyedHash(token, secretKey),
    family_id: claims.familyId,
    principal_type: claims.type,
    principal_id: claims.principalId,
    client_id: claims.clientId,
    created: timestamp(new Date(claims.issuedAtMs)),
    expires: timestamp(new Date(claims.expiresAtMs)),
    used: timestamp(now),
    revoked: null,
  });
}
