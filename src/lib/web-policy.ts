import type { WebOptions } from './service-options.js';

/**
 * The contract between the authorizer's policy feed (`GET /authorizer/api/v1/icap/policy`) and
 * the web proxy: everything a proxy needs to decide a request locally, and nothing secret.
 */
export interface WebPolicy {
  /** Policy version; bumps on any change to defaults, hosts, sessions or keys. */
  version: number;
  /** RFC 3339 time the document was built. */
  generated: string;
  /** Public keys (JWK, ES256) that verify web-session tokens. */
  session_keys: Array<Record<string, string>>;
  /** Default web options of the installation. */
  default_web: WebOptions;
  /** Every host with a WEB service. */
  hosts: WebPolicyHost[];
  /** Web-session ids revoked before their expiry. */
  revoked_sessions: string[];
}

export interface WebPolicyHost {
  id: string;
  name: string;
  /** Addresses of the host's WEB services (host names or IPs, with port). */
  services: Array<{ address: string; port: number }>;
  /** Allowed domains from its WEB services; empty = only the services' own addresses. */
  allowed_domains: string[];
  /** Effective web options per principal (account) name. */
  principals: Array<{ principal: string; web: WebOptions; source: 'principal' | 'default' }>;
}

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
