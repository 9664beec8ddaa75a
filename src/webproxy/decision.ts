/**
 * The web proxy's policy decisions, as pure functions: which web session a request belongs to,
 * whether the request may go upstream, and what happens to the response. No I/O, no clock (the
 * caller passes `now`), no ICAP framing; `handler.ts` glues these to the ICAP server.
 *
 * Decisions use the CURRENT policy (from the feed), never only the token: the token names a
 * session, a host and a principal; the policy says what that principal may do right now.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { WebPolicySchema, type WebPolicy } from '../lib/contracts/web-policy.js';
import { verifyJwt, type VerificationKey, type VerifyJwtResult } from '../lib/jwt.js';
import type { WebOptions } from '../lib/service-options.js';
import { domainAllowed, WEB_SESSION_AUDIENCE } from '../lib/web-policy.js';
import {
  classifyDownload,
  classifyUpload,
  isAudioType,
  isDocumentType,
  mediaType,
  type BodyView,
  type TransferFacts,
} from './content-rules.js';
import { getHttpHeader, getHttpHeaderValues } from './icap-headers.js';
import type { HttpHeaderField } from './icap-types.js';

/** Issuer of web-session tokens. */
export const WEB_SESSION_ISSUER = 'privgate';
/** Clock skew tolerated between the control plane that signs sessions and this proxy, seconds. */
export const CLOCK_TOLERANCE_SECONDS = 30;
/** The browser-side header that carries the web-session token. */
export const SESSION_HEADER = 'X-Privgate-Session';
/**
 * ICAP headers Squid adds with `adaptation_meta` (see docs/web-proxy-squid.md): the client's
 * ORIGINAL session headers, which also reach RESPMOD although REQMOD stripped them.
 */
export const META_SESSION_HEADER = 'X-Privgate-Session';
export const META_PROXY_AUTHORIZATION_HEADER = 'X-Privgate-Proxy-Authorization';

// ---------------------------------------------------------------------------------------------
// Policy index

/** One WEB host of the policy, ready for look-ups. */
export interface IndexedHost {
  id: string;
  name: string;
  /** The host's WEB service addresses (host names lower case, IPv6 without brackets). */
  services: ReadonlyArray<{ address: string; port: number }>;
  allowedDomains: readonly string[];
  /** Effective web options by principal (account) name. */
  principals: ReadonlyMap<string, WebOptions>;
}

/** A policy document with the look-up structures every decision needs. */
export interface PolicyIndex {
  readonly version: number;
  readonly generated: string;
  readonly policy: WebPolicy;
  /** Session verification keys by `kid`. */
  readonly keys: Map<string, VerificationKey>;
  readonly hosts: ReadonlyMap<string, IndexedHost>;
  readonly revoked: ReadonlySet<string>;
}

/** Thrown by {@link validateWebPolicy} for a document that is not a usable WebPolicy. */
export class InvalidPolicyError extends Error {
  override readonly name = 'InvalidPolicyError';
}

/**
 * The feed contract's check, compiled once when the module loads. It runs once per policy
 * document (a feed fetch or the state file at start), never per request.
 */
const webPolicyCheck = TypeCompiler.Compile(WebPolicySchema);

/**
 * Checks that `value` (parsed JSON from the feed or the state file) is a WebPolicy (the schema of
 * src/lib/contracts/web-policy.ts) and returns a clean copy holding only the known fields.
 * Throws {@link InvalidPolicyError} otherwise, naming the first offending path; a bad document
 * must never replace a good one.
 */
export function validateWebPolicy(value: unknown): WebPolicy {
  if (!webPolicyCheck.Check(value)) {
    const first = webPolicyCheck.Errors(value).First();
    throw new InvalidPolicyError(first ? `${first.path || 'policy'}: ${first.message}` : 'policy does not match the feed contract');
  }
  // Clean drops properties the contract does not declare (a session key keeps its string members).
  return Value.Clean(WebPolicySchema, structuredClone(value)) as WebPolicy;
}

/** Lower-cases a host name and removes a trailing dot and IPv6 brackets. */
export function normalizeHostname(host: string): string {
  let value = host.trim().toLowerCase();
  if (value.startsWith('[') && value.endsWith(']')) value = value.slice(1, -1);
  if (value.endsWith('.')) value = value.slice(0, -1);
  return value;
}

/** Builds the look-up structures for a (validated) policy. */
export function indexPolicy(policy: WebPolicy): PolicyIndex {
  const keys = new Map<string, VerificationKey>();
  for (const jwk of policy.session_keys) if (typeof jwk.kid === 'string') keys.set(jwk.kid, { ...jwk });
  const hosts = new Map<string, IndexedHost>();
  for (const host of policy.hosts) {
    const principals = new Map<string, WebOptions>();
    for (const entry of host.principals) principals.set(entry.principal, { ...entry.web });
    hosts.set(host.id, {
      id: host.id,
      name: host.name,
      services: host.services.map((service) => ({ address: normalizeHostname(service.address), port: service.port })),
      allowedDomains: [...host.allowed_domains],
      principals,
    });
  }
  return { version: policy.version, generated: policy.generated, policy, keys, hosts, revoked: new Set(policy.revoked_sessions) };
}

// ---------------------------------------------------------------------------------------------
// Sessions

/** A verified web session, with the options the current policy gives its principal. */
export interface WebSession {
  id: string;
  userId: string;
  userName: string;
  hostId: string;
  hostName: string;
  principal: string;
  web: WebOptions;
  host: IndexedHost;
  /** Token expiry, seconds since the epoch. */
  expires: number;
}

/** Why no session could be established. */
export type SessionFailure =
  | 'no_policy'
  | 'session_missing'
  | 'session_invalid'
  | 'session_expired'
  | 'session_revoked'
  | 'host_unknown'
  | 'principal_unknown';

/** What the token claimed, for the audit trail of a refused session (signature checked). */
export interface ClaimedSession {
  sessionId: string;
  userId: string;
  userName: string;
  hostId: string;
  principal: string;
}

export type SessionResolution =
  | { ok: true; session: WebSession }
  | { ok: false; reason: SessionFailure; claimed?: ClaimedSession; detail?: string };

/**
 * Verifies a token's signature and registered claims against the policy's keys: a promise while
 * a signature is being checked, the result itself when it is known (a cache, see policy-store.ts).
 */
export type TokenVerifier = (token: string, policy: PolicyIndex, now: Date) => VerifyJwtResult | Promise<VerifyJwtResult>;

/** The default verifier: ES256, issuer `privgate`, audience `privgate-web-proxy`. */
export const verifySessionToken: TokenVerifier = (token, policy, now) =>
  verifyJwt(token, { keys: policy.keys, issuer: WEB_SESSION_ISSUER, audience: WEB_SESSION_AUDIENCE, now, clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS });

function bearerToken(value: string | undefined): string | null {
  if (value === undefined) return null;
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(value);
  return match ? match[1]! : null;
}

/** Squid's logformat encodes meta header values (`%20` for a space) and sends `-` for none. */
function metaValue(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '' || trimmed === '-') return undefined;
  if (!trimmed.includes('%')) return trimmed;
  try {
    return decodeURIComponent(trimmed);
  } catch {
    return trimmed;
  }
}

function plainToken(value: string | undefined): string | null {
  if (value === undefined) return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

/**
 * The web-session token of a request, from (first match wins): the HTTP `X-Privgate-Session`
 * header, HTTP `Proxy-Authorization: Bearer`, the ICAP `Proxy-Authorization` Squid copies into
 * REQMOD, and the `adaptation_meta` ICAP headers carrying the client's original headers (the
 * only source in RESPMOD, where the HTTP request is the one REQMOD already stripped).
 */
export function extractSessionToken(icapHeaders: readonly HttpHeaderField[], httpHeaders: readonly HttpHeaderField[] | null): string | null {
  if (httpHeaders) {
    const direct = plainToken(getHttpHeader(httpHeaders, SESSION_HEADER));
    if (direct) return direct;
    for (const value of getHttpHeaderValues(httpHeaders, 'Proxy-Authorization')) {
      const token = bearerToken(value);
      if (token) return token;
    }
  }
  for (const value of getHttpHeaderValues(icapHeaders, 'Proxy-Authorization')) {
    const token = bearerToken(value);
    if (token) return token;
  }
  const meta = plainToken(metaValue(getHttpHeader(icapHeaders, META_SESSION_HEADER)));
  if (meta) return meta;
  return bearerToken(metaValue(getHttpHeader(icapHeaders, META_PROXY_AUTHORIZATION_HEADER)));
}

/** Names of the HTTP headers that carried a session and must not go upstream. */
export function sessionHeadersIn(httpHeaders: readonly HttpHeaderField[]): string[] {
  const names: string[] = [];
  if (getHttpHeader(httpHeaders, SESSION_HEADER) !== undefined) names.push(SESSION_HEADER);
  if (getHttpHeaderValues(httpHeaders, 'Proxy-Authorization').some((value) => bearerToken(value) !== null)) names.push('Proxy-Authorization');
  return names;
}

function stringClaim(payload: Record<string, unknown>, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' && value.length > 0 && value.length <= 500 ? value : undefined;
}

/**
 * Establishes the session of a request: verifies the token offline with the policy's keys, then
 * checks revocation and looks the host and principal up in the CURRENT policy (a host or
 * principal that left the policy ends the session; changed options apply at once). Synchronous
 * when `verify` answers synchronously (a remembered token), a promise while it checks a signature.
 */
export function resolveSession(
  policy: PolicyIndex | null,
  token: string | null,
  now: Date,
  verify: TokenVerifier = verifySessionToken,
): SessionResolution | Promise<SessionResolution> {
  if (policy === null) return { ok: false, reason: 'no_policy' };
  if (token === null) return { ok: false, reason: 'session_missing' };
  const result = verify(token, policy, now);
  return result instanceof Promise ? result.then((verified) => sessionOf(policy, verified, now)) : sessionOf(policy, result, now);
}

function sessionOf(policy: PolicyIndex, result: VerifyJwtResult, now: Date): SessionResolution {
  if (!result.ok) return { ok: false, reason: result.reason === 'expired' ? 'session_expired' : 'session_invalid', detail: result.reason };
  const payload = result.payload;
  const sessionId = stringClaim(payload, 'sid');
  const userId = stringClaim(payload, 'sub');
  const hostId = stringClaim(payload, 'host_id');
  const principal = stringClaim(payload, 'principal');
  if (sessionId === undefined || userId === undefined || hostId === undefined || principal === undefined) {
    return { ok: false, reason: 'session_invalid', detail: 'claims' };
  }
  // Verification results may be cached by the caller; expiry is always checked against `now`.
  if (now.getTime() / 1000 - CLOCK_TOLERANCE_SECONDS >= payload.exp) return { ok: false, reason: 'session_expired', detail: 'expired' };
  const claimed: ClaimedSession = { sessionId, userId, userName: stringClaim(payload, 'name') ?? '', hostId, principal };
  if (policy.revoked.has(sessionId)) return { ok: false, reason: 'session_revoked', claimed };
  const host = policy.hosts.get(hostId);
  if (!host) return { ok: false, reason: 'host_unknown', claimed };
  const web = host.principals.get(principal);
  if (!web) return { ok: false, reason: 'principal_unknown', claimed };
  return {
    ok: true,
    session: { id: sessionId, userId, userName: claimed.userName, hostId, hostName: host.name, principal, web, host, expires: payload.exp },
  };
}

// ---------------------------------------------------------------------------------------------
// Targets and domains

/** Where a request goes. */
export interface Target {
  scheme: string;
  host: string;
  port: number;
  /** `scheme://host[:port]/path` without query or fragment (queries may hold secrets), for logs and audit. */
  display: string;
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ftp: 21, ws: 80, wss: 443 };

/**
 * The target of an HTTP request as Squid sends it: `host:port` for CONNECT, an absolute URI
 * otherwise (an origin-form path falls back to the Host header). Null when unusable.
 */
export function parseTarget(method: string, target: string, headers: readonly HttpHeaderField[]): Target | null {
  if (method.toUpperCase() === 'CONNECT') {
    const match = /^(\[[0-9A-Fa-f:.]+\]|[^:/\s[\]]+):(\d{1,5})$/.exec(target);
    if (!match) return null;
    const port = Number(match[2]);
    if (port < 1 || port > 65535) return null;
    const host = normalizeHostname(match[1]!);
    return { scheme: 'https', host, port, display: `${match[1]!.toLowerCase()}:${port}` };
  }
  let url: URL;
  try {
    if (target.startsWith('/')) {
      const hostHeader = getHttpHeader(headers, 'Host');
      if (hostHeader === undefined) return null;
      url = new URL(`http://${hostHeader.trim()}${target}`);
    } else {
      url = new URL(target);
    }
  } catch {
    return null;
  }
  const scheme = url.protocol.replace(/:$/, '');
  const defaultPort = DEFAULT_PORTS[scheme];
  if (defaultPort === undefined || url.hostname === '') return null;
  const port = url.port === '' ? defaultPort : Number(url.port);
  return { scheme, host: normalizeHostname(url.hostname), port, display: `${url.protocol}//${url.host}${url.pathname}` };
}

/**
 * Whether a session may reach `target`: one of its host's WEB service addresses (same name and
 * port), or a host name matching the host's allowed domains (exact or `*.` wildcard, any port).
 * An empty allowed-domains list thus means the service addresses only.
 */
export function targetAllowed(target: Target, host: IndexedHost): boolean {
  for (const service of host.services) if (service.address === target.host && service.port === target.port) return true;
  return domainAllowed(target.host, host.allowedDomains);
}

// ---------------------------------------------------------------------------------------------
// Request (REQMOD) decisions

/** Why a request or response was refused. */
export type DenyReason =
  | SessionFailure
  | 'bad_target'
  | 'domain_not_allowed'
  | 'upload_blocked'
  | 'download_blocked'
  | 'audio_blocked';

/** The encapsulated HTTP request, as the decision sees it. */
export interface RequestFacts {
  method: string;
  target: string;
  headers: readonly HttpHeaderField[];
  /** Whether the ICAP request encapsulates a body. */
  hasBody: boolean;
  body: BodyView;
}

/** Tunables of the content rules. */
export interface DecisionRules {
  /** Request bodies larger than this count as file uploads (and are not buffered further). */
  maxInspectBytes: number;
  /**
   * The upload rule: with `web.file_transfer = false`, request bodies of any type and method
   * larger than this are blocked as `too_large` (and not buffered further). Default
   * `DEFAULT_MAX_UPLOAD_BYTES` of content-rules.ts; never above `maxInspectBytes` in effect.
   */
  maxUploadBytes: number;
}

/** A refusal: the status Squid's client sees, why, and whatever was known when it was decided. */
export interface Denial<Status extends number> {
  kind: 'deny';
  status: Status;
  reason: DenyReason;
  session?: WebSession;
  claimed?: ClaimedSession;
  target?: Target;
  transfer?: TransferFacts;
  detail?: string;
}

export type RequestVerdict =
  /**
   * The rules need more of the body (at most `maxBytes` + 1 bytes of it: a body of unknown
   * length is decided as soon as it crosses the limit); only answered while the body is `unread`
   * or `preview`.
   */
  | { kind: 'need-body'; maxBytes: number }
  /** Forward upstream (without the session headers); `transfer` is an allowed upload to audit. */
  | { kind: 'forward'; session: WebSession; target: Target; transfer?: TransferFacts }
  | Denial<403 | 407 | 503>;

function sessionDenyStatus(reason: SessionFailure, phase: 'request' | 'response'): 403 | 407 | 503 {
  if (reason === 'no_policy') return 503;
  if (phase === 'request' && reason !== 'host_unknown' && reason !== 'principal_unknown') return 407;
  return 403;
}

/** Decides a request: session, allowed domain, then (for bodies) the upload rule. */
export function decideRequest(resolution: SessionResolution, facts: RequestFacts, rules: DecisionRules): RequestVerdict {
  const target = parseTarget(facts.method, facts.target, facts.headers);
  if (!resolution.ok) {
    return {
      kind: 'deny',
      status: sessionDenyStatus(resolution.reason, 'request'),
      reason: resolution.reason,
      ...(resolution.claimed ? { claimed: resolution.claimed } : {}),
      ...(target ? { target } : {}),
      ...(resolution.detail ? { detail: resolution.detail } : {}),
    };
  }
  const session = resolution.session;
  if (!target) return { kind: 'deny', status: 403, reason: 'bad_target', session };
  if (!targetAllowed(target, session.host)) return { kind: 'deny', status: 403, reason: 'domain_not_allowed', session, target };
  if (facts.method.toUpperCase() === 'CONNECT') return { kind: 'forward', session, target };
  // The upload rule: without file transfer, a body over the upload limit is a file upload
  // whatever its type; with file transfer, the (larger) inspection limit only decides what is audited.
  const limit = session.web.file_transfer ? rules.maxInspectBytes : Math.min(rules.maxInspectBytes, rules.maxUploadBytes);
  const upload = classifyUpload(facts.headers, facts.hasBody, facts.body, limit);
  if (upload.kind === 'need-body') return { kind: 'need-body', maxBytes: limit };
  if (upload.kind === 'file') {
    if (!session.web.file_transfer) return { kind: 'deny', status: 403, reason: 'upload_blocked', session, target, transfer: upload.facts };
    return { kind: 'forward', session, target, transfer: upload.facts };
  }
  return { kind: 'forward', session, target };
}

// ---------------------------------------------------------------------------------------------
// Response (RESPMOD) decisions

/** The encapsulated HTTP request and response heads of a RESPMOD. */
export interface ResponseFacts {
  /** The request as Squid sent it upstream (after REQMOD); null when Squid sent none. */
  request: { method: string; target: string; headers: readonly HttpHeaderField[] } | null;
  status: number;
  headers: readonly HttpHeaderField[];
}

export type ResponseVerdict =
  /** Deliver; `headers`, when set, replace the response headers; `transfer` is an allowed download to audit. */
  | { kind: 'deliver'; session: WebSession; target: Target; headers?: HttpHeaderField[]; transfer?: TransferFacts }
  | Denial<403 | 503>;

/** Permissions-Policy features switched off when clipboard is not allowed. */
export const CLIPBOARD_FEATURES = ['clipboard-read', 'clipboard-write'] as const;
/** Permissions-Policy features switched off when audio is not allowed. */
export const AUDIO_FEATURES = ['autoplay', 'microphone', 'speaker-selection'] as const;
/** CSP added when audio is not allowed: no media element may load anything. */
export const AUDIO_CSP = "media-src 'none'";

/**
 * The response headers with the page restrictions for `web` added: Permissions-Policy entries
 * (replacing the origin's entries for the same features, keeping its others) and, without audio,
 * an extra Content-Security-Policy (CSPs add up, so the origin's own policy stays in force).
 * Null when nothing needs to change.
 */
export function withPagePolicies(headers: readonly HttpHeaderField[], web: WebOptions): HttpHeaderField[] | null {
  const disabled: string[] = [];
  if (!web.clipboard) disabled.push(...CLIPBOARD_FEATURES);
  if (!web.audio) disabled.push(...AUDIO_FEATURES);
  if (disabled.length === 0) return null;
  const kept: string[] = [];
  let position = -1;
  const result: HttpHeaderField[] = [];
  for (const header of headers) {
    if (header.name.toLowerCase() !== 'permissions-policy') {
      result.push({ name: header.name, value: header.value });
      continue;
    }
    if (position === -1) position = result.length;
    for (const member of header.value.split(',')) {
      const trimmed = member.trim();
      if (trimmed === '') continue;
      const key = trimmed.split('=', 1)[0]!.trim().toLowerCase();
      if (!disabled.includes(key)) kept.push(trimmed);
    }
  }
  const value = [...kept, ...disabled.map((feature) => `${feature}=()`)].join(', ');
  const field = { name: 'Permissions-Policy', value };
  if (position === -1) result.push(field);
  else result.splice(position, 0, field);
  if (!web.audio) result.push({ name: 'Content-Security-Policy', value: AUDIO_CSP });
  return result;
}

/**
 * Decides a response: the session again (from Squid's meta headers; a response that cannot be
 * tied to a valid session is refused), the allowed domain, audio, downloads, then the page
 * restrictions for clipboard and audio.
 */
export function decideResponse(resolution: SessionResolution, facts: ResponseFacts): ResponseVerdict {
  const target = facts.request ? parseTarget(facts.request.method, facts.request.target, facts.request.headers) : null;
  if (!resolution.ok) {
    return {
      kind: 'deny',
      status: resolution.reason === 'no_policy' ? 503 : 403,
      reason: resolution.reason,
      ...(resolution.claimed ? { claimed: resolution.claimed } : {}),
      ...(target ? { target } : {}),
      ...(resolution.detail ? { detail: resolution.detail } : {}),
    };
  }
  const session = resolution.session;
  if (!facts.request || !target) return { kind: 'deny', status: 403, reason: 'bad_target', session };
  if (!targetAllowed(target, session.host)) return { kind: 'deny', status: 403, reason: 'domain_not_allowed', session, target };
  const method = facts.request.method.toUpperCase();
  const type = mediaType(getHttpHeader(facts.headers, 'Content-Type'));
  if (!session.web.audio && isAudioType(type) && method !== 'HEAD' && facts.status >= 200 && facts.status < 300) {
    return { kind: 'deny', status: 403, reason: 'audio_blocked', session, target };
  }
  const download = classifyDownload(method, facts.status, facts.headers);
  if (download && !session.web.file_transfer) return { kind: 'deny', status: 403, reason: 'download_blocked', session, target, transfer: download };
  const headers = isDocumentType(type) ? withPagePolicies(facts.headers, session.web) : null;
  return { kind: 'deliver', session, target, ...(headers ? { headers } : {}), ...(download ? { transfer: download } : {}) };
}
