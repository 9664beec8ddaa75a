import type { WebOptions } from './service-options.js';

/** The policy feed's document: the schema and its types live in ./contracts/web-policy.ts. */
export type { WebPolicy, WebPolicyHost } from './contracts/web-policy.js';

/** Claims of a web-session token (ES256 JWT signed by the authorizer). */
export interface WebSessionClaims {
  iss: 'privgate';
  aud: 'privgate-web-proxy';
  /** Web-session id, revocable through the policy feed. */
  sid: string;
  /** User id. */
  sub: string;
  name: string;
  host_id: string;
  principal: string;
  /** Snapshot at issue time; the proxy decides with the current policy when it knows the host. */
  allowed_domains: string[];
  web: WebOptions;
  iat: number;
  exp: number;
}

export const WEB_SESSION_AUDIENCE = 'privgate-web-proxy';

/**
 * Whether `hostname` is allowed by `patterns`: exact names (case-insensitive) and `*.example.com`
 * wildcards, which match any subdomain but not example.com itself.
 */
export function domainAllowed(hostname: string, patterns: readonly string[]): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  for (const raw of patterns) {
    const pattern = raw.toLowerCase().replace(/\.$/, '');
    if (pattern.startsWith('*.')) {
      const suffix = pattern.slice(1);
      if (host.endsWith(suffix) && host.length > suffix.length) return true;
    } else if (host === pattern) {
      return true;
    }
  }
  return false;
}
