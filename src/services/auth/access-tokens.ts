import crypto, { type KeyObject } from 'node:crypto';
import { signJwt, verifyJwt } from '../../lib/jwt.js';
import { isPermission, type Permission, type Principal, type PrincipalType } from '../../access.js';
import { ADMIN_ROLE_ID } from '../role-store/permissions.js';
import { jtiKey, refreshFamilyKey, subjectKey } from './revocations.js';
import type { ActiveSigningKey, SigningKeyStore } from './signing-keys.js';

/**
 * Access tokens (ES256 JWTs): their claims, minting, and checking signature and claims. Pure
 * functions of the token, the keys and the time; what a node remembers about verified tokens and
 * their revocation lives in {@link TokenService} (token-service.ts), next to the hot check.
 */

export const TOKEN_ISSUER = 'privgate';
export const TOKEN_AUDIENCE = 'privgate-api';

/** Clock skew accepted on `iat`/`exp`; a remembered token is also dropped this long after `exp`. */
export const TOKEN_CLOCK_TOLERANCE_SECONDS = 5;

/** The identity a token is minted for. */
export interface TokenSubject {
  type: PrincipalType;
  id: string;
  name: string;
  roles: ReadonlyArray<{ id: string; name: string }>;
  permissions: readonly Permission[];
}

interface AccessClaims {
  iss: string;
  aud: string;
  sub: string;
  jti: string;
  iat: number;
  exp: number;
  /** Issue time in milliseconds: revocations are compared against it at full precision. */
  iat_ms: number;
  typ: PrincipalType;
  name: string;
  client_id: string;
  roles: Array<{ id: string; name: string }>;
  permissions: string[];
  /** The refresh-token family the token was minted with: revoking the family revokes it too. */
  fam?: string;
}

/** The outcome of checking a bearer token. */
export type TokenCheck = { ok: true; principal: Principal } | { ok: false; reason: string };

/** A token's signature and claims checked, with the refresh-token family it names (if any). */
export type ParsedToken = { ok: true; principal: Principal; familyId: string | undefined } | { ok: false; reason: string };

/** A signature-checked access token, remembered by the SHA-256 of the token. */
export interface VerifiedToken {
  principal: Principal;
  expiresAtMs: number;
  issuedAtMs: number;
  jtiKey: string;
  subjectKey: string;
  /** `family:…` of the refresh-token family it was minted with; its `jtiKey` when it has none. */
  familyKey: string;
  /** The answer while the token is not revoked: made once, handed out on every remembered check. */
  accepted: TokenCheck;
}

/** Verified tokens are remembered by their SHA-256, never by the bearer token itself. */
export function tokenCacheKey(token: string): string {
  return crypto.hash('sha256', token, 'base64');
}

/** Signs an access token for `subject` valid `ttlSeconds` from `now`; with `familyId`, revoking that refresh-token family revokes it. */
export async function signAccessToken(
  subject: TokenSubject,
  clientId: string,
  familyId: string | undefined,
  now: Date,
  ttlSeconds: number,
  key: ActiveSigningKey,
): Promise<{ token: string; expiresIn: number; jti: string }> {
  const seconds = Math.floor(now.getTime() / 1000);
  const claims: AccessClaims = {
    iss: TOKEN_ISSUER,
    aud: TOKEN_AUDIENCE,
    sub: subject.id,
    jti: crypto.randomUUID(),
    iat: seconds,
    exp: seconds + ttlSeconds,
    iat_ms: now.getTime(),
    typ: subject.type,
    name: subject.name,
    client_id: clientId,
    roles: subject.roles.map((role) => ({ id: role.id, name: role.name })),
    permissions: [...subject.permissions],
    ...(familyId === undefined ? {} : { fam: familyId }),
  };
  const token = await signJwt(claims as unknown as Record<string, unknown>, key);
  return { token, expiresIn: ttlSeconds, jti: claims.jti };
}

/** Signature and claims only; the result depends on nothing but the token, keys and time. */
export async function parseAccessToken(token: string, now: Date, keys: SigningKeyStore): Promise<ParsedToken> {
  const options = { issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, now, clockToleranceSeconds: TOKEN_CLOCK_TOLERANCE_SECONDS };
  const verifyingKey = (kid: string): KeyObject | undefined => keys.verifyingKeys.get(kid);
  let result = await verifyJwt(token, { ...options, keys: verifyingKey });
  if (!result.ok && result.reason === 'unknown_key') {
    // Perhaps another node rotated keys since we loaded them.
    await keys.reloadAtMostEvery(now);
    result = await verifyJwt(token, { ...options, keys: verifyingKey });
  }
  if (!result.ok) return { ok: false, reason: result.reason };
  const claims = result.payload as Partial<AccessClaims>;
  if (
    typeof claims.sub !== 'string' ||
    typeof claims.jti !== 'string' ||
    typeof claims.iat_ms !== 'number' ||
    typeof claims.exp !== 'number' ||
    (claims.typ !== 'user' && claims.typ !== 'api-client' && claims.typ !== 'trusted-client') ||
    !Array.isArray(claims.roles) ||
    !Array.isArray(claims.permissions) ||
    (claims.fam !== undefined && typeof claims.fam !== 'string')
  ) {
    return { ok: false, reason: 'claims' };
  }
  const roles = claims.roles.filter(
    (role): role is { id: string; name: string } => typeof role?.id === 'string' && typeof role?.name === 'string',
  );
  return {
    ok: true,
    principal: {
      type: claims.typ,
      id: claims.sub,
      name: typeof claims.name === 'string' ? claims.name : claims.sub,
      roles,
      permissions: new Set(claims.permissions.filter((permission): permission is Permission => typeof permission === 'string' && isPermission(permission))),
      admin: roles.some((role) => role.id === ADMIN_ROLE_ID),
      jti: claims.jti,
      issuedAt: new Date(claims.iat_ms),
      expiresAt: new Date(claims.exp * 1000),
    },
    familyId: claims.fam,
  };
}

/** What a node remembers of a parsed token: its revocation keys and the answer to hand out while it is not revoked. */
export function verifiedToken(principal: Principal, familyId: string | undefined): VerifiedToken {
  const byJti = jtiKey(principal.jti);
  return {
    principal,
    expiresAtMs: principal.expiresAt.getTime(),
    issuedAtMs: principal.issuedAt.getTime(),
    jtiKey: byJti,
    subjectKey: subjectKey(principal.type, principal.id),
    familyKey: familyId === undefined ? byJti : refreshFamilyKey(familyId),
    accepted: { ok: true, principal },
  };
}
