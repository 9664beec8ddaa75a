/**
 * The web proxy's calls to the control plane: registration, OAuth2 tokens (password grant as the
 * trusted client, refresh before expiry, re-authentication after a 401), the policy feed
 * (ETag + long-poll) and audit batches.
 *
 * HTTPS trusts exactly `control_plane.ca_certificate` when the config has one (it replaces the
 * system roots rather than adding to them), else the system trust store.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { AuditBatch } from '../lib/contracts/audit-batch.js';
import type { WebPolicy } from '../lib/contracts/web-policy.js';
import type { WebAuditEvent } from './audit-queue.js';
import { validateWebPolicy } from './decision.js';
import type { StoredCredentials } from './state.js';

/** Largest answer body read from the control plane. */
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
/** Time allowed for an ordinary call. */
const DEFAULT_TIMEOUT_MS = 15_000;
/** Refresh an access token once this share of its lifetime has passed. */
const REFRESH_AT_FRACTION = 0.75;

/** A failed control-plane call: `status` is the HTTP status when there was an answer. */
export class ControlPlaneError extends Error {
  override readonly name = 'ControlPlaneError';
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What `POST registration.register_url` answers. */
export interface RegistrationAnswer {
  trusted_client_id: string;
  oauth_client_id: string;
  oauth_client_secret: string;
  client_secret: string;
  certificate: string;
  ca_certificate: string;
}

interface TokenAnswer {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
}

export type PolicyAnswer = { status: 200; policy: WebPolicy; etag: string | null } | { status: 304 };

export interface ControlPlaneEndpoints {
  caCertificate: string | undefined;
  tokenUrl: string;
  policyUrl: string;
  auditUrl: string;
  registerUrl: string;
}

function envelopeCode(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error_code?: unknown };
    return typeof parsed.error_code === 'string' ? parsed.error_code : undefined;
  } catch {
    return undefined;
  }
}

function failure(what: string, answer: HttpAnswer): ControlPlaneError {
  const code = envelopeCode(answer.body);
  return new ControlPlaneError(`${what}: HTTP ${answer.status}${code ? ` ${code}` : ''}`, answer.status, code);
}

function parseJson(what: string, answer: HttpAnswer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(answer.body);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ControlPlaneError(`${what}: the answer is not a JSON object`, answer.status);
}

/** Plain HTTP(S) calls with the control plane's trust settings and keep-alive. */
export class ControlPlaneClient {
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  constructor(readonly endpoints: ControlPlaneEndpoints) {
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 8,
      ...(endpoints.caCertificate ? { ca: endpoints.caCertificate } : {}),
    });
  }

  /** One HTTP exchange; rejects with ControlPlaneError on network failure or timeout. */
  request(
    method: string,
    url: string,
    options: { headers?: Record<string, string>; body?: string; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<HttpAnswer> {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const transport = secure ? https : http;
    const body = options.body === undefined ? undefined : Buffer.from(options.body, 'utf8');
    return new Promise<HttpAnswer>((resolve, reject) => {
      let settled = false;
      const finish = (error: ControlPlaneError | null, answer?: HttpAnswer): void => {
        if (settled) return;
        settled = true;
        if (error) reject(error);
        else resolve(answer!);
      };
      const request = transport.request(
        target,
        {
          method,
          agent: secure ? this.httpsAgent : this.httpAgent,
          headers: {
            accept: 'application/json',
            ...(body ? { 'content-length': String(body.length) } : {}),
            ...options.headers,
          },
          ...(options.signal ? { signal: options.signal } : {}),
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              request.destroy();
              finish(new ControlPlaneError(`${method} ${target.pathname}: answer larger than ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          response.on('end', () =>
            finish(null, { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }),
          );
          response.on('error', (error) => finish(new ControlPlaneError(`${method} ${target.pathname}: ${error.message}`)));
        },
      );
      request.setTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, () => {
        request.destroy();
        finish(new ControlPlaneError(`${method} ${target.pathname}: timed out`));
      });
      request.on('error', (error) => finish(new ControlPlaneError(`${method} ${target.pathname}: ${error.message}`)));
      request.end(body);
    });
  }

  /** Registers with the one-time secret and a CSR; 403 when refused. */
  async register(trustedClientId: string, secret: string, csrPem: string): Promise<RegistrationAnswer> {
    const answer = await this.request('POST', this.endpoints.registerUrl, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ trusted_client_id: trustedClientId, secret, csr: csrPem }),
    });
    if (answer.status !== 200) throw failure('registration', answer);
    const value = parseJson('registration', answer);
    for (const key of ['trusted_client_id', 'oauth_client_id', 'oauth_client_secret', 'client_secret', 'certificate', 'ca_certificate']) {
      if (typeof value[key] !== 'string') throw new ControlPlaneError(`registration: the answer lacks ${key}`, answer.status);
    }
    return value as unknown as RegistrationAnswer;
  }

  private async token(form: Record<string, string>, basic: { id: string; secret: string } | null): Promise<TokenAnswer> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (basic) {
      // RFC 6749 section 2.3.1: both halves are form-urlencoded before the Basic encoding.
      const pair = `${encodeURIComponent(basic.id)}:${encodeURIComponent(basic.secret)}`;
      headers.authorization = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
    }
    const answer = await this.request('POST', this.endpoints.tokenUrl, { headers, body: new URLSearchParams(form).toString() });
    if (answer.status !== 200) throw failure('token', answer);
    const value = parseJson('token', answer);
    if (typeof value.access_token !== 'string' || typeof value.expires_in !== 'number') {
      throw new ControlPlaneError('token: the answer lacks access_token/expires_in', answer.status);
    }
    return {
      access_token: value.access_token,
      expires_in: value.expires_in,
      ...(typeof value.refresh_token === 'string' ? { refresh_token: value.refresh_token } : {}),
    };
  }

  /** The password grant as the registered trusted client. */
  passwordGrant(credentials: StoredCredentials): Promise<TokenAnswer> {
    return this.token(
      { grant_type: 'password', username: credentials.trusted_client_id, password: credentials.client_secret },
      { id: credentials.oauth_client_id, secret: credentials.oauth_client_secret },
    );
  }

  /** Exchanges a refresh token (single use; the answer carries the next one). */
  refreshGrant(refreshToken: string, credentials: StoredCredentials): Promise<TokenAnswer> {
    return this.token({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: credentials.oauth_client_id }, null);
  }

  /**
   * The policy feed: 200 with a validated document, or 304 when `etag` is still current. With
   * `waitSeconds` the control plane holds the request until the policy changes or time runs out.
   */
  async fetchPolicy(accessToken: string, etag: string | null, waitSeconds: number, signal?: AbortSignal): Promise<PolicyAnswer> {
    const url = new URL(this.endpoints.policyUrl);
    if (etag !== null && waitSeconds > 0) url.searchParams.set('wait', String(waitSeconds));
    const answer = await this.request('GET', url.toString(), {
      headers: { authorization: `Bearer ${accessToken}`, ...(etag !== null ? { 'if-none-match': etag } : {}) },
      timeoutMs: waitSeconds * 1000 + DEFAULT_TIMEOUT_MS,
      ...(signal ? { signal } : {}),
    });
    if (answer.status === 304) return { status: 304 };
    if (answer.status !== 200) throw failure('policy', answer);
    let policy: WebPolicy;
    try {
      policy = validateWebPolicy(JSON.parse(answer.body));
    } catch (error) {
      throw new ControlPlaneError(`policy: unusable document (${(error as Error).message})`, answer.status);
    }
    const header = answer.headers.etag;
    return { status: 200, policy, etag: typeof header === 'string' ? header : null };
  }

  /** Sends one batch of audit events (the batch contract's body); answers the HTTP status (200 = stored). */
  async sendAudit(accessToken: string, events: readonly WebAuditEvent[]): Promise<number> {
    const batch: AuditBatch = { events: [...events] };
    const answer = await this.request('POST', this.endpoints.auditUrl, {
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    });
    return answer.status;
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}

/**
 * Access tokens for the trusted client: cached, refreshed with the refresh token once 75 % of
 * the lifetime has passed, fetched anew with the password grant when refreshing fails or after a
 * 401 ({@link invalidate}). Concurrent callers share one request.
 */
export class TokenManager {
  private access: { token: string; refreshAt: number; expiresAt: number } | null = null;
  private refreshToken: string | null = null;
  private pending: Promise<string> | null = null;

  constructor(
    private readonly client: ControlPlaneClient,
    private readonly credentials: () => StoredCredentials | null,
    private readonly now: () => number = Date.now,
  ) {}

  /** A usable access token; rejects with ControlPlaneError when none can be had. */
  async get(): Promise<string> {
    const current = this.access;
    const now = this.now();
    if (current && now < current.refreshAt) return current.token;
    if (!this.pending) {
      this.pending = this.obtain().finally(() => {
        this.pending = null;
      });
    }
    try {
      return await this.pending;
    } catch (error) {
      // A refresh that failed still leaves a token that has not expired yet.
      if (current && now < current.expiresAt - 5000) return current.token;
      throw error;
    }
  }

  /** Forgets `token` (the control plane answered 401 for it); the next `get` re-authenticates. */
  invalidate(token?: string): void {
    if (token === undefined || this.access?.token === token) {
      this.access = null;
      this.refreshToken = null;
    }
  }

  private async obtain(): Promise<string> {
    const credentials = this.credentials();
    if (!credentials) throw new ControlPlaneError('not registered');
    let answer: TokenAnswer | null = null;
    if (this.refreshToken) {
      const refresh = this.refreshToken;
      this.refreshToken = null;
      try {
        answer = await this.client.refreshGrant(refresh, credentials);
      } catch {
        answer = null;
      }
    }
    answer ??= await this.client.passwordGrant(credentials);
    const issued = this.now();
    const lifetimeMs = Math.max(1, answer.expires_in) * 1000;
    this.access = { token: answer.access_token, refreshAt: issued + lifetimeMs * REFRESH_AT_FRACTION, expiresAt: issued + lifetimeMs };
    this.refreshToken = answer.refresh_token ?? null;
    return answer.access_token;
  }
}
