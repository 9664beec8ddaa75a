/**
 * The shapes shared by the ICAP/1.0 (RFC 3507) layers of `privgate web-proxy`: what the parser
 * produces, what the connection hands to the policy handler, and what the handler answers.
 *
 * The policy code only ever sees these types; it never touches sockets or ICAP framing.
 */

/** The three ICAP methods RFC 3507 defines. */
export type IcapMethod = 'OPTIONS' | 'REQMOD' | 'RESPMOD';

/** The methods a service can adapt (OPTIONS is always implied). */
export type IcapModificationMethod = 'REQMOD' | 'RESPMOD';

/**
 * One header line, name spelled as received. Kept as an ordered list rather than a map because
 * the encapsulated HTTP message must reach the origin or the browser with its headers in the
 * original order and case.
 */
export interface HttpHeaderField {
  name: string;
  value: string;
}

/** An HTTP request header block: request line plus headers. */
export interface HttpRequestHead {
  method: string;
  /** The request target exactly as sent; Squid sends absolute URIs, or `host:port` for CONNECT. */
  target: string;
  /** For example `HTTP/1.1`. */
  version: string;
  headers: HttpHeaderField[];
}

/** An HTTP response header block: status line plus headers. */
export interface HttpResponseHead {
  version: string;
  status: number;
  reason: string;
  headers: HttpHeaderField[];
}

/**
 * A request head as parsed from an ICAP message. `raw` holds the received bytes so that an
 * unmodified message can be echoed back without serialising it again; edits to `headers` do
 * not change `raw`.
 */
export interface ParsedHttpRequestHead extends HttpRequestHead {
  readonly raw: Buffer;
}

/** A response head as parsed from an ICAP message; see {@link ParsedHttpRequestHead}. */
export interface ParsedHttpResponseHead extends HttpResponseHead {
  readonly raw: Buffer;
}

/** The section names allowed in an `Encapsulated` header. */
export type EncapsulatedEntity = 'req-hdr' | 'res-hdr' | 'req-body' | 'res-body' | 'null-body' | 'opt-body';

/** One `name=offset` entry of an `Encapsulated` header. */
export interface EncapsulatedSection {
  entity: EncapsulatedEntity;
  offset: number;
}

/** A parsed ICAP request head together with its encapsulated HTTP header blocks. */
export interface IcapRequest {
  method: IcapMethod;
  /** The request URI as sent, e.g. `icap://127.0.0.1:1344/reqmod`. */
  uri: string;
  /** The URI authority (`host[:port]`). */
  authority: string;
  /** The URI path without its leading slash and without the query, e.g. `reqmod`. */
  service: string;
  /** The URI query without the `?`, or an empty string. */
  query: string;
  /** Always `ICAP/1.0`; other versions are rejected by the parser. */
  version: string;
  /** The ICAP headers in received order. */
  headers: readonly HttpHeaderField[];
  /** The `Encapsulated` sections; `[{ entity: 'null-body', offset: 0 }]` when it was absent. */
  encapsulated: readonly EncapsulatedSection[];
  /** The encapsulated HTTP request head, when a `req-hdr` section was sent. */
  httpRequest: ParsedHttpRequestHead | null;
  /** The encapsulated HTTP response head, when a `res-hdr` section was sent (RESPMOD only). */
  httpResponse: ParsedHttpResponseHead | null;
  /** Whether a chunked body follows the header blocks (`req-body`, `res-body` or `opt-body`). */
  hasBody: boolean;
  /** The `Preview` byte count, or null when the message carries no preview. */
  preview: number | null;
  /** Whether the client sent `Allow: 204`, which permits a 204 outside a preview. */
  allow204: boolean;
}

/**
 * How much of the encapsulated body the handler is being shown.
 *
 * - `absent`: the message has no body (`null-body`).
 * - `unread`: a body follows but none of it has been read yet (no preview was sent).
 * - `preview`: `chunks` hold the preview; more of the body follows if the handler asks.
 * - `complete`: `chunks` hold the whole body.
 * - `truncated`: the body is larger than the configured limit; `chunks` hold its first
 *   `limits.maxBodyBytes` bytes and the handler has to decide on that.
 */
export type IcapBodyState = 'absent' | 'unread' | 'preview' | 'complete' | 'truncated';

/** The part of the encapsulated body that has been read so far. */
export interface IcapBody {
  readonly state: IcapBodyState;
  /** Slices of the received data, in order; shared with the connection, so do not mutate. */
  readonly chunks: readonly Buffer[];
  /** Sum of the lengths of `chunks`. */
  readonly length: number;
  /** The chunks joined into one buffer (copies when there is more than one chunk). */
  bytes(): Buffer;
}

/** Facts about the ICAP connection a request arrived on. */
export interface IcapRequestContext {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  /** Aborted when the ICAP client stops sending or the connection closes, so slow policy look-ups can give up. */
  signal: AbortSignal;
}

/** What a service advertises in its OPTIONS answer; the server serialises it. */
export interface IcapServiceOptions {
  /** The `Methods` header; Squid refuses a service whose methods do not match its config. */
  methods: readonly IcapModificationMethod[];
  /** The `ISTag`; quoted automatically when not already quoted. */
  istag: string;
  /** Free text for the `Service` header; defaults to `privgate web-proxy`. */
  serviceDescription?: string;
  /** The `Preview` header: how many body bytes Squid sends before waiting for a decision. */
  previewBytes?: number;
  /** Whether to advertise `Allow: 204`; defaults to true. */
  allow204?: boolean;
  /** File extensions for `Transfer-Preview` (`*` for all). */
  transferPreview?: readonly string[];
  /** File extensions for `Transfer-Ignore`. */
  transferIgnore?: readonly string[];
  /** File extensions for `Transfer-Complete`. */
  transferComplete?: readonly string[];
  /** The `Max-Connections` header; defaults to the server's connection limit. */
  maxConnections?: number;
  /** The `Options-TTL` header, in seconds. */
  optionsTtl?: number;
}

/** Leave the HTTP message as it is: 204 when the client allows it, else an echo of the original. */
export interface IcapUnmodifiedDecision {
  kind: 'unmodified';
}

/**
 * Read the rest of the body (up to `maxBytes`, at most `limits.maxBodyBytes`) and ask again. Only valid while the
 * body state is `unread` or `preview`.
 */
export interface IcapNeedBodyDecision {
  kind: 'need-body';
  /**
   * Stop reading once more than this many body bytes are held (the handler then sees a
   * `truncated` body with the first `maxBytes` of them); `limits.maxBodyBytes` when larger or unset.
   */
  maxBytes?: number;
}

/**
 * Replace the header block and pass the body through unchanged. REQMOD must supply
 * `httpRequestHeaders`, RESPMOD must supply `httpResponseHeaders`.
 */
export interface IcapModifyHeadersDecision {
  kind: 'modify-headers';
  httpRequestHeaders?: HttpRequestHead;
  httpResponseHeaders?: HttpResponseHead;
}

/**
 * Answer with this HTTP response instead: in REQMOD the request never reaches the origin (a 403
 * block page, a 407 challenge); in RESPMOD it replaces the origin's response. The body, if any,
 * is discarded from the original message. `Content-Length` is added when neither it nor
 * `Transfer-Encoding` is given.
 */
export interface IcapRespondDecision {
  kind: 'respond';
  status: number;
  /** Defaults to the standard reason phrase for `status`. */
  reason?: string;
  headers: readonly HttpHeaderField[] | Readonly<Record<string, string>>;
  body?: Buffer | string;
}

/** Answer with an ICAP error instead of adapting, e.g. 404 for an unknown service. */
export interface IcapErrorDecision {
  kind: 'icap-error';
  status: number;
  reason?: string;
}

/** The handler's answer to a REQMOD or RESPMOD request. */
export type IcapDecision =
  | IcapUnmodifiedDecision
  | IcapNeedBodyDecision
  | IcapModifyHeadersDecision
  | IcapRespondDecision
  | IcapErrorDecision;

/**
 * The policy the ICAP server enforces. Methods may return plain values or promises; an exception
 * or rejection answers ICAP 500 and closes that connection.
 */
export interface IcapHandler {
  /** Answers OPTIONS for `service`; null answers 404 Service Not Found. */
  options(
    service: string,
    request: IcapRequest,
    context: IcapRequestContext,
  ): IcapServiceOptions | null | Promise<IcapServiceOptions | null>;

  /**
   * Decides a REQMOD or RESPMOD request. Called once with whatever body is available without
   * waiting (`absent`, `unread`, `preview` or `complete` after an `ieof` preview), and again
   * with `complete` or `truncated` if it answered `need-body`.
   */
  modify(request: IcapRequest, body: IcapBody, context: IcapRequestContext): IcapDecision | Promise<IcapDecision>;

  /**
   * The ISTag to put on REQMOD/RESPMOD answers for `service`; should match the OPTIONS answer.
   * When absent the server's configured default tag is used.
   */
  serviceTag?(service: string): string;
}

/** Size limits, in bytes, applied to every ICAP message. */
export interface IcapLimits {
  /** Limit on the ICAP head and on each encapsulated HTTP header block. Default 64 KiB. */
  maxHeaderBytes: number;
  /** Limit on body bytes buffered for a `need-body` decision, and on `Preview`. Default 1 MiB. */
  maxBodyBytes: number;
}

/** The structured logger the server writes to; pino loggers fit. */
export interface IcapLogger {
  debug(details: object, message?: string): void;
  info(details: object, message?: string): void;
  warn(details: object, message?: string): void;
  error(details: object, message?: string): void;
}
