/**
 * The ICAP handler of `privgate web-proxy`: turns ICAP requests into inputs for the pure
 * decisions of decision.ts and their verdicts into ICAP answers, audit events and metrics.
 *
 * REQMOD (`icap.reqmod_service`): session, allowed domain and upload rule; allowed requests go
 * upstream without the session headers. RESPMOD (`icap.respmod_service`): the session again, from
 * the `adaptation_meta` headers Squid adds (see docs/web-proxy-squid.md), then audio, downloads
 * and the page restrictions. Anything that cannot be tied to a valid session is refused.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import type { WebAuditEvent } from './audit-queue.js';
import { blockResponse } from './block-page.js';
import { ConnectionSessions, parseClientConnection } from './connection-sessions.js';
import { DEFAULT_MAX_UPLOAD_BYTES, type TransferFacts } from './content-rules.js';
import {
  decideRequest,
  decideResponse,
  extractSessionToken,
  parseTarget,
  resolveSession,
  sessionHeadersIn,
  type ClaimedSession,
  type DenyReason,
  type SessionResolution,
  type Target,
  type WebSession,
} from './decision.js';
import { cloneHttpRequestHead, getHttpHeader, removeHttpHeader } from './icap-headers.js';
import type { IcapBody, IcapDecision, IcapHandler, IcapRequest, IcapRequestContext, IcapServiceOptions } from './icap-types.js';
import type { WebProxyMetrics } from './metrics.js';
import { CachedTokenVerifier, type PolicyStore } from './policy-store.js';

/** Body bytes Squid sends with a REQMOD before waiting (enough for a form's first part headers). */
export const REQMOD_PREVIEW_BYTES = 1024;
/** RESPMOD decides on headers alone, so no body preview is needed. */
export const RESPMOD_PREVIEW_BYTES = 0;
/** How long Squid may keep an OPTIONS answer. */
export const OPTIONS_TTL_SECONDS = 60;

export interface HandlerLogger {
  debug(details: object, message?: string): void;
  info(details: object, message?: string): void;
  warn(details: object, message?: string): void;
  error(details: object, message?: string): void;
}

export interface WebProxyHandlerOptions {
  reqmodService: string;
  respmodService: string;
  store: PolicyStore;
  /** Queues an audit event; must not block. */
  audit: (event: WebAuditEvent) => void;
  metrics: WebProxyMetrics;
  logger: HandlerLogger;
  /** Request bodies larger than this count as file uploads. */
  maxInspectBytes: number;
  /**
   * The upload rule: without file transfer, request bodies of any type larger than this are
   * blocked. Default `DEFAULT_MAX_UPLOAD_BYTES` (64 KiB).
   */
  maxUploadBytes?: number;
  /** Advertised as `Max-Connections`. */
  maxConnections: number;
  now?: () => Date;
  verifier?: CachedTokenVerifier;
  connections?: ConnectionSessions;
}

type ServiceKind = 'reqmod' | 'respmod';

/** The facts of a decision that end up in the audit trail and the log. */
interface Outcome {
  service: ServiceKind;
  method: string;
  session?: WebSession | undefined;
  claimed?: ClaimedSession | undefined;
  target?: Target | undefined;
  transfer?: TransferFacts | undefined;
  reason?: DenyReason | undefined;
  detail?: string | undefined;
  clientAddress: string | undefined;
  /** Quoted on the block page, in the log and in the audit event; drawn only when one is written. */
  reference?: string | undefined;
}

/** The browser's address as Squid reports it (`icap_send_client_ip on`); the ICAP peer is Squid itself. */
function clientAddress(request: IcapRequest): string | undefined {
  const header = getHttpHeader(request.headers, 'X-Client-IP')?.trim();
  return header && net.isIP(header) ? header : undefined;
}

export class WebProxyHandler implements IcapHandler {
  private readonly settings: WebProxyHandlerOptions;
  /** ICAP requests already counted (a request asking for its body is decided twice). */
  private readonly counted = new WeakSet<IcapRequest>();
  private readonly now: () => Date;
  private readonly verifier: CachedTokenVerifier;
  private readonly connections: ConnectionSessions;

  constructor(options: WebProxyHandlerOptions) {
    this.settings = options;
    this.now = options.now ?? (() => new Date());
    this.verifier = options.verifier ?? new CachedTokenVerifier();
    this.connections = options.connections ?? new ConnectionSessions();
  }

  /** ISTag: changes with the policy version, so Squid notices a new policy. */
  serviceTag(): string {
    const version = this.settings.store.index?.version;
    return version === undefined ? 'pg-nopolicy' : `pg-${version}`;
  }

  options(service: string): IcapServiceOptions | null {
    this.settings.metrics.icapRequests.inc({ method: 'OPTIONS' });
    const kind = this.kindOf(service);
    if (kind === null) {
      this.settings.metrics.icapErrors.inc({ cause: 'service' });
      return null;
    }
    return {
      methods: [kind === 'reqmod' ? 'REQMOD' : 'RESPMOD'],
      istag: this.serviceTag(),
      serviceDescription: `privgate web-proxy ${kind === 'reqmod' ? 'request' : 'response'} policy`,
      previewBytes: kind === 'reqmod' ? REQMOD_PREVIEW_BYTES : RESPMOD_PREVIEW_BYTES,
      allow204: true,
      transferPreview: ['*'],
      maxConnections: this.settings.maxConnections,
      optionsTtl: OPTIONS_TTL_SECONDS,
    };
  }

  /**
   * The decision for a REQMOD / RESPMOD request: synchronous when the session token's signature was
   * verified before (see {@link CachedTokenVerifier}) or there is none to verify, a promise while a
   * new token's ES256 signature is being checked.
   */
  modify(request: IcapRequest, body: IcapBody, _context?: IcapRequestContext): IcapDecision | Promise<IcapDecision> {
    if (!this.counted.has(request)) {
      // Count each ICAP request once, not again when the rest of its body arrives.
      this.counted.add(request);
      this.settings.metrics.icapRequests.inc({ method: request.method });
    }
    const kind = this.kindOf(request.service);
    if (kind === null) {
      this.settings.metrics.icapErrors.inc({ cause: 'service' });
      return { kind: 'icap-error', status: 404 };
    }
    if ((kind === 'reqmod') !== (request.method === 'REQMOD')) {
      this.settings.metrics.icapErrors.inc({ cause: 'service' });
      return { kind: 'icap-error', status: 405 };
    }
    try {
      const decision = kind === 'reqmod' ? this.reqmod(request, body) : this.respmod(request);
      return decision instanceof Promise ? decision.catch((error: unknown) => this.failed(error)) : decision;
    } catch (error) {
      return this.failed(error);
    }
  }

  private failed(error: unknown): never {
    this.settings.metrics.icapErrors.inc({ cause: 'handler' });
    throw error;
  }

  private kindOf(service: string): ServiceKind | null {
    if (service === this.settings.reqmodService) return 'reqmod';
    if (service === this.settings.respmodService) return 'respmod';
    return null;
  }

  private reqmod(request: IcapRequest, body: IcapBody): IcapDecision | Promise<IcapDecision> {
    const head = request.httpRequest;
    if (!head) {
      this.settings.metrics.icapErrors.inc({ cause: 'protocol' });
      return { kind: 'icap-error', status: 400, reason: 'REQMOD without a request header' };
    }
    const store = this.settings.store;
    const now = this.now();
    const connection = parseClientConnection(request.headers);
    const connect = head.method.toUpperCase() === 'CONNECT';
    // Inside a bumped tunnel the client sends no proxy headers: fall back to its CONNECT's session.
    const token =
      extractSessionToken(request.headers, head.headers) ??
      (connect ? null : this.connections.lookup(connection, parseTarget(head.method, head.target, head.headers), now.getTime()));
    const resolution = resolveSession(store.index, token, now, this.verifier.verifier);
    if (resolution instanceof Promise) return resolution.then((resolved) => this.reqmodResolved(request, body, head, now, connection, connect, token, resolved));
    return this.reqmodResolved(request, body, head, now, connection, connect, token, resolution);
  }

  private reqmodResolved(
    request: IcapRequest,
    body: IcapBody,
    head: NonNullable<IcapRequest['httpRequest']>,
    now: Date,
    connection: ReturnType<typeof parseClientConnection>,
    connect: boolean,
    token: string | null,
    resolution: SessionResolution,
  ): IcapDecision {
    const verdict = decideRequest(
      resolution,
      { method: head.method, target: head.target, headers: head.headers, hasBody: request.hasBody, body },
      { maxInspectBytes: this.settings.maxInspectBytes, maxUploadBytes: this.settings.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES },
    );
    if (connect && connection) {
      if (verdict.kind === 'forward' && token !== null) this.connections.bind(connection, token, verdict.target, verdict.session.expires * 1000, now.getTime());
      else this.connections.unbind(connection);
    }
    const base = { service: 'reqmod' as const, method: head.method, clientAddress: clientAddress(request) };

    if (verdict.kind === 'need-body') {
      this.count('reqmod', 'need_body');
      return { kind: 'need-body', maxBytes: verdict.maxBytes };
    }
    if (verdict.kind === 'deny') {
      return this.deny({ ...base, session: verdict.session, claimed: verdict.claimed, target: verdict.target, transfer: verdict.transfer, reason: verdict.reason, detail: verdict.detail }, verdict.status);
    }
    if (verdict.transfer) this.record({ ...base, session: verdict.session, target: verdict.target, transfer: verdict.transfer }, 'allow');
    const strip = sessionHeadersIn(head.headers);
    if (strip.length === 0) {
      this.count('reqmod', 'allow');
      return { kind: 'unmodified' };
    }
    const forwarded = cloneHttpRequestHead(head);
    for (const name of strip) removeHttpHeader(forwarded.headers, name);
    this.count('reqmod', 'allow_modified');
    return { kind: 'modify-headers', httpRequestHeaders: forwarded };
  }

  private respmod(request: IcapRequest): IcapDecision | Promise<IcapDecision> {
    const response = request.httpResponse;
    if (!response) {
      this.settings.metrics.icapErrors.inc({ cause: 'protocol' });
      return { kind: 'icap-error', status: 400, reason: 'RESPMOD without a response header' };
    }
    const store = this.settings.store;
    const now = this.now();
    const httpRequest = request.httpRequest;
    const token =
      extractSessionToken(request.headers, httpRequest?.headers ?? null) ??
      this.connections.lookup(
        parseClientConnection(request.headers),
        httpRequest ? parseTarget(httpRequest.method, httpRequest.target, httpRequest.headers) : null,
        now.getTime(),
      );
    const resolution = resolveSession(store.index, token, now, this.verifier.verifier);
    if (resolution instanceof Promise) return resolution.then((resolved) => this.respmodResolved(request, response, resolved));
    return this.respmodResolved(request, response, resolution);
  }

  private respmodResolved(request: IcapRequest, response: NonNullable<IcapRequest['httpResponse']>, resolution: SessionResolution): IcapDecision {
    const httpRequest = request.httpRequest;
    const verdict = decideResponse(resolution, {
      request: httpRequest ? { method: httpRequest.method, target: httpRequest.target, headers: httpRequest.headers } : null,
      status: response.status,
      headers: response.headers,
    });
    const base = { service: 'respmod' as const, method: httpRequest?.method ?? '', clientAddress: clientAddress(request) };

    if (verdict.kind === 'deny') {
      return this.deny({ ...base, session: verdict.session, claimed: verdict.claimed, target: verdict.target, transfer: verdict.transfer, reason: verdict.reason, detail: verdict.detail }, verdict.status);
    }
    if (verdict.transfer) this.record({ ...base, session: verdict.session, target: verdict.target, transfer: verdict.transfer }, 'allow');
    if (!verdict.headers) {
      this.count('respmod', 'allow');
      return { kind: 'unmodified' };
    }
    this.count('respmod', 'allow_modified');
    return {
      kind: 'modify-headers',
      httpResponseHeaders: { version: response.version, status: response.status, reason: response.reason, headers: verdict.headers },
    };
  }

  private count(service: ServiceKind, kind: string): void {
    this.settings.metrics.decisions.inc({ service, kind });
  }

  private deny(denied: Outcome & { reason: DenyReason }, status: number): IcapDecision {
    const outcome = { ...denied, reference: denied.reference ?? reference() };
    this.count(outcome.service, `deny_${outcome.reason}`);
    this.record(outcome, 'deny');
    this.settings.logger.info(
      {
        service: outcome.service,
        reason: outcome.reason,
        ...(outcome.detail ? { detail: outcome.detail } : {}),
        method: outcome.method,
        ...(outcome.target ? { host: outcome.target.host, port: outcome.target.port } : {}),
        ...(outcome.session ? { web_session_id: outcome.session.id } : outcome.claimed ? { web_session_id: outcome.claimed.sessionId } : {}),
        client: outcome.clientAddress,
        reference: outcome.reference,
      },
      'web request denied',
    );
    const page = blockResponse({ status, reason: outcome.reason, ...(outcome.target ? { site: outcome.target.display } : {}), requestId: outcome.reference });
    return { kind: 'respond', status: page.status, headers: page.headers, body: page.body };
  }

  /** Queues the audit event of a denial or of an allowed file transfer. */
  private record(outcome: Outcome, verdict: 'allow' | 'deny'): void {
    const session = outcome.session;
    const claimed = outcome.claimed;
    const userId = session?.userId ?? claimed?.userId;
    const userName = session?.userName ?? claimed?.userName;
    const hostId = session?.hostId ?? claimed?.hostId;
    const details: Record<string, unknown> = {
      service: outcome.service,
      method: outcome.method.slice(0, 20),
      reference: outcome.reference ?? reference(),
    };
    if (outcome.reason) details.reason = outcome.reason;
    if (outcome.detail) details.detail = outcome.detail;
    if (outcome.target) {
      details.url = outcome.target.display.slice(0, 1000);
      details.host = outcome.target.host.slice(0, 253);
    }
    const sessionId = session?.id ?? claimed?.sessionId;
    if (sessionId) details.web_session_id = sessionId;
    const principal = session?.principal ?? claimed?.principal;
    if (principal) details.principal = principal;
    if (session) details.host_name = session.hostName;
    if (outcome.transfer) {
      details.direction = outcome.transfer.direction;
      details.cause = outcome.transfer.cause;
      details.content_type = outcome.transfer.contentType.slice(0, 200);
      if (outcome.transfer.filename !== undefined) details.filename = outcome.transfer.filename;
      if (outcome.transfer.bytes !== undefined) details.bytes = outcome.transfer.bytes;
    }
    const event: WebAuditEvent = {
      type: outcome.transfer ? 'web_file_transfer' : 'web_request',
      outcome: verdict,
      at: this.now().toISOString(),
      details,
      ...(userId ? { principal_id: userId.slice(0, 200) } : {}),
      ...(userId && userName ? { principal_name: userName.slice(0, 200) } : {}),
      ...(outcome.clientAddress ? { source_address: outcome.clientAddress } : {}),
      ...(hostId ? { object_type: 'host', object_id: hostId.slice(0, 200) } : {}),
    };
    this.settings.audit(event);
  }
}

function reference(): string {
  return crypto.randomBytes(6).toString('hex');
}
