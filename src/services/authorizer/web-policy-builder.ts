import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { resolveEffectiveServiceOptions } from '../../lib/service-options.js';
import { timestamp } from '../../lib/time.js';
import type { WebPolicy, WebPolicyHost } from '../../lib/contracts/web-policy.js';
import { getDefaultServiceOptions, listWebHosts } from '../host-store/repository.js';
import { bumpPolicyVersion, currentPolicyVersion } from '../host-store/policy-version-repository.js';
import { revokedWebSessionIds, signingKeysFingerprints, swapSigningKeysFingerprint } from './repository.js';

/**
 * Key rotation happens in the auth service, which does not know about the policy feed; the feed
 * notices a changed key set here and bumps the policy version once (a conditional update of the
 * stored fingerprint decides which node bumps, so concurrent callers bump at most once).
 */
export async function syncSigningKeyVersion(db: Kysely<Tables>): Promise<void> {
  const { current, stored } = await signingKeysFingerprints(db);
  if (stored === current) return;
  await db.transaction().execute(async (trx) => {
    if (await swapSigningKeysFingerprint(trx, stored, current)) await bumpPolicyVersion(trx);
  });
}

/** The current policy version, after taking key rotations into account. */
export async function policyVersion(db: Kysely<Tables>): Promise<number> {
  await syncSigningKeyVersion(db);
  return currentPolicyVersion(db);
}

/**
 * Builds the web policy document at `version` (read before building, so the content is at least
 * that new). A handful of queries regardless of the number of hosts.
 */
export async function buildWebPolicy(db: Kysely<Tables>, version: number, jwks: Array<Record<string, string>>, now: Date): Promise<WebPolicy> {
  const [defaults, hosts, revoked] = await Promise.all([getDefaultServiceOptions(db), listWebHosts(db), revokedWebSessionIds(db, now)]);
  const policyHosts: WebPolicyHost[] = hosts.map((host) => {
    const domains = new Set<string>();
    for (const service of host.services) for (const domain of service.allowed_domains) domains.add(domain);
    return {
      id: host.id,
      name: host.name,
      services: host.services.map((service) => ({ address: service.address, port: service.port })),
      allowed_domains: [...domains],
      principals: host.principals.map((principal) => {
        const effective = resolveEffectiveServiceOptions(defaults, principal.service_options);
        return { principal: principal.principal, web: effective.options.web, source: effective.sources.web };
      }),
    };
  });
  return {
    version,
    generated: timestamp(now),
    session_keys: jwks,
    default_web: { ...defaults.web },
    hosts: policyHosts,
    revoked_sessions: revoked,
  };
}

/** `"<version>"`, the feed's strong ETag. */
export function policyEtag(version: number): string {
  return `"${version}"`;
}

/** Whether an `If-None-Match` header names `etag` (or `*`). Weak comparison, as RFC 9110 asks for. */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}
