import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { timestamp } from '../../lib/time.js';
import { revokeWebSessionsOf } from '../authorizer/repository.js';
import { bumpPolicyVersion } from '../host-store/policy-version-repository.js';
import type { Principal, PrincipalType } from '../../access.js';
import { findRevocations, upsertRevocation } from './repository.js';

/**
 * Token revocations (`token_revocations`): their keys, what a row read from the database says,
 * and the writes. What a node remembers of them — read on every token check — and the functions
 * that judge it are in token-service.ts, beside the check (`checkRemembered`) that reads them.
 *
 * Key `jti:<id>` revokes one access token, `sub:<type>:<id>` every token of a principal issued
 * before its cut-off, `family:<id>` a refresh-token family and the access tokens minted with it.
 */

export function jtiKey(jti: string): string {
  return `jti:${jti}`;
}

export function subjectKey(type: PrincipalType, id: string): string {
  return `sub:${type}:${id}`;
}

export function refreshFamilyKey(familyId: string): string {
  return `family:${familyId}`;
}

/**
 * Writes a principal's revocation (every token issued before `now`) on `db` and marks every live
 * web session it opened revoked, bumping the policy version when there was one so web proxies
 * learn it from the feed.
 */
export async function writePrincipalRevocation(db: Kysely<Tables>, type: PrincipalType, id: string, now: Date, expires: string): Promise<void> {
  await upsertRevocation(db, { key: subjectKey(type, id), issued_before: timestamp(now), expires });
  // The bump wakes the policy feed's long-polls, so web proxies drop the sessions.
  if ((await revokeWebSessionsOf(db, type, id, now)) > 0) await bumpPolicyVersion(db);
}

/** Whether the token `principal` was read from is revoked (by principal or by its id) as `db` sees it now. */
export async function principalTokenRevoked(principal: Principal, db: Kysely<Tables>): Promise<boolean> {
  const rows = await findRevocations(db, [subjectKey(principal.type, principal.id), jtiKey(principal.jti)]);
  const issuedAtMs = principal.issuedAt.getTime();
  return rows.some((row) => row.issued_before === null || Date.parse(row.issued_before) > issuedAtMs);
}

/** Whether `rows` (of the family's and the principal's keys) revoke a refresh token of `familyKey` issued at `issuedAtMs`. */
export function refreshRevokedIn(rows: readonly { key: string; issued_before: string | null }[], familyKey: string, issuedAtMs: number): boolean {
  return rows.some((row) => row.key === familyKey || (row.issued_before !== null && Date.parse(row.issued_before) > issuedAtMs));
}
