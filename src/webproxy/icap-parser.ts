/**
 * ICAP/1.0 (RFC 3507) wire format: an incremental request parser and the response serialisers.
 *
 * Pure: no sockets, no timers. The connection pushes received buffers in and pulls events out,
 * one at a time, so it can stop between messages (pipelining) or at the end of a preview while
 * the policy decides, without the parser running ahead.
 */
import { STATUS_CODES } from 'node:http';
import type {
  EncapsulatedEntity,
  EncapsulatedSection,
  HttpHeaderField,
  HttpRequestHead,
  HttpResponseHead,
  IcapLimits,
  IcapMethod,
  IcapRequest,
  IcapServiceOptions,
  ParsedHttpRequestHead,
  ParsedHttpResponseHead,
} from './icap-types.js';

/** The limits used when the caller gives none. */
export const DEFAULT_ICAP_LIMITS: Readonly<IcapLimits> = Object.freeze({
  maxHeaderBytes: 64 * 1024,
  maxBodyBytes: 1024 * 1024,
});

const CR = 0x0d;
const LF = 0x0a;
/** Chunk-size lines and trailer lines are short in practice; anything longer is an attack or garbage. */
const MAX_LINE_BYTES = 4096;
/** Sixteen hex digits cover every safe integer while still rejecting absurd sizes early. */
const MAX_CHUNK_SIZE_DIGITS = 16;
/** Slack above the header limits for data that arrives while the consumer is busy (one socket read). */
const PENDING_SLACK_BYTES = 256 * 1024;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Control characters other than horizontal tab; they never belong in a header line. */
const CONTROL_CHARACTER = /[\x00-\x08\x0a-\x1f\x7f]/;
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]+)[ \t]*(;.*)?$/;
const CHUNK_EXTENSION = /[ \t]*;[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:[ \t]*=[ \t]*(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"(?:[^"\\]|\\.)*"))?[ \t]*/y;
const ICAP_URI = /^icaps?:\/\/([^/?#\s]+)(\/[^?#\s]*)?(?:\?([^#\s]*))?$/i;
const HTTP_VERSION = /^HTTP\/\d\.\d$/;
const HTTP_STATUS_LINE = /^(HTTP\/\d\.\d) (\d{3})(?: ([^\r\n]*))?$/;
const OFFSET = /^\d{1,10}$/;

const ICAP_METHODS: ReadonlySet<string> = new Set<IcapMethod>(['OPTIONS', 'REQMOD', 'RESPMOD']);
const HEADER_ENTITIES: ReadonlySet<EncapsulatedEntity> = new Set<EncapsulatedEntity>(['req-hdr', 'res-hdr']);
const ENTITIES: ReadonlySet<string> = new Set<EncapsulatedEntity>([
  'req-hdr',
  'res-hdr',
  'req-body',
  'res-body',
  'null-body',
  'opt-body',
]);
/** Which body sections each method may carry (RFC 3507 section 4.4.1). */
const BODY_ENTITIES_BY_METHOD: Readonly<Record<IcapMethod, ReadonlySet<EncapsulatedEntity>>> = {
  OPTIONS: new Set(['opt-body', 'null-body']),
  REQMOD: new Set(['req-body', 'null-body']),
  RESPMOD: new Set(['res-body', 'null-body']),
};

/** Reason phrases for the ICAP status codes RFC 3507 section 4.3.3 lists. */
export const ICAP_REASONS: Readonly<Record<number, string>> = {
  100: 'Continue',
  200: 'OK',
  204: 'No Content',
  400: 'Bad Request',
  404: 'ICAP Service Not Found',
  405: 'Method Not Allowed For Service',
  408: 'Request Timeout',
  413: 'Request Entity Too Large',
  500: 'Server Error',
  501: 'Method Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Overloaded',
  505: 'ICAP Version Not Supported By Server',
};

/**
 * Malformed or oversized ICAP input. `status` is the ICAP status to answer with: 400 for syntax,
 * 413 for exceeded limits, 501 for an unknown method, 505 for a version other than ICAP/1.0.
 * After one, the connection cannot find the next message boundary and must close.
 */
export class IcapParseError extends Error {
  override readonly name = 'IcapParseError';
  readonly status: number;

  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

/** One step of parser output; see {@link IcapParser.read}. */
export type IcapParserEvent =
  /** The ICAP head and encapsulated HTTP heads of a new message. */
  | { type: 'message'; message: IcapRequest }
  /** A piece of body data, a view into the pushed buffer (not a copy). */
  | { type: 'body'; data: Buffer }
  /**
   * The preview ended. With `ieof` the whole body was in the preview and `end` follows;
   * otherwise the parser waits for {@link IcapParser.continueAfterPreview} or
   * {@link IcapParser.finishAfterPreview}.
   */
  | { type: 'preview-end'; ieof: boolean }
  /** The message is complete; the next event belongs to the next message. */
  | { type: 'end' };

/** Options for {@link IcapParser}. */
export interface IcapParserOptions {
  limits?: Partial<IcapLimits>;
  /**
   * Most unread bytes the parser holds before failing with 413. Defaults to twice the header
   * limit plus 256 KiB: enough for both encapsulated header blocks plus one socket read.
   */
  maxPendingBytes?: number;
}

type Phase =
  | 'head'
  | 'http-heads'
  | 'chunk-size'
  | 'chunk-data'
  | 'chunk-data-end'
  | 'trailer'
  | 'preview-wait'
  | 'failed';

/**
 * Incremental parser for a stream of ICAP requests. Push received buffers with {@link push} and
 * pull events with {@link read}; {@link feed} does both for callers that want everything at once.
 * Body data is handed out as views into the pushed buffers, so pushed buffers must not be
 * reused by the caller.
 */
export class IcapParser {
  readonly limits: Readonly<IcapLimits>;
  readonly maxPendingBytes: number;

  private phase: Phase = 'head';
  private failure: IcapParseError | null = null;
  private readonly outbox: IcapParserEvent[] = [];

  private pending: Buffer[] = [];
  private pendingOffset = 0;
  private pendingBytes = 0;

  private headParts: Buffer[] = [];
  private headBytes = 0;
  private headMatched = 0;

  private lineParts: Buffer[] = [];
  private lineBytes = 0;

  private message: IcapRequest | null = null;
  private headerBlockBytes = 0;
  private chunkRemaining = 0;
  private crlfSeen = 0;
  private inPreview = false;
  private previewRemaining = 0;
  private lastChunkIeof = false;
  private trailerBytes = 0;

  constructor(options: IcapParserOptions = {}) {
    this.limits = Object.freeze({ ...DEFAULT_ICAP_LIMITS, ...definedOnly(options.limits ?? {}) });
    this.maxPendingBytes = options.maxPendingBytes ?? 2 * this.limits.maxHeaderBytes + PENDING_SLACK_BYTES;
  }

  /** Bytes pushed but not yet parsed. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** True while the parser waits for the preview decision. */
  get awaitingPreviewDecision(): boolean {
    return this.phase === 'preview-wait';
  }

  /** True between messages with nothing buffered: the peer may close here without losing data. */
  get idle(): boolean {
    return this.phase === 'head' && this.headBytes === 0 && this.pendingBytes === 0 && this.outbox.length === 0;
  }

  /** True when the parser failed; every later call throws the same error. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Appends received bytes. Throws {@link IcapParseError} (413) if too much is left unread. */
  push(data: Buffer): void {
    if (this.failure) throw this.failure;
    if (data.length === 0) return;
    if (this.pendingBytes + data.length > this.maxPendingBytes) {
      this.fail(new IcapParseError(413, 'too much unread data buffered'));
    }
    this.pending.push(data);
    this.pendingBytes += data.length;
  }

  /**
   * The next event, or null when more bytes are needed (or a preview decision is pending).
   * Throws {@link IcapParseError} on malformed input, and keeps throwing it afterwards.
   */
  read(): IcapParserEvent | null {
    if (this.failure) throw this.failure;
    try {
      for (;;) {
        const event = this.outbox.shift();
        if (event) return event;
        if (!this.step()) return null;
      }
    } catch (error) {
      this.fail(
        error instanceof IcapParseError ? error : new IcapParseError(400, 'malformed ICAP message', { cause: error }),
      );
    }
  }

  /** Pushes `data` and returns every event that is ready. */
  feed(data: Buffer): IcapParserEvent[] {
    this.push(data);
    const events: IcapParserEvent[] = [];
    for (let event = this.read(); event; event = this.read()) events.push(event);
    return events;
  }

  /** After answering `100 Continue`: parse the rest of the body as part of the same message. */
  continueAfterPreview(): void {
    this.requirePreviewWait();
    this.inPreview = false;
    this.phase = 'chunk-size';
  }

  /** After answering the preview with a final response: the message is over, the client sends no more of it. */
  finishAfterPreview(): void {
    this.requirePreviewWait();
    this.resetForNextMessage();
  }

  private requirePreviewWait(): void {
    if (this.failure) throw this.failure;
    if (this.phase !== 'preview-wait') throw new Error(`IcapParser is not waiting for a preview decision (phase ${this.phase})`);
  }

  private fail(error: IcapParseError): never {
    this.failure = error;
    this.phase = 'failed';
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingOffset = 0;
    this.headParts = [];
    this.lineParts = [];
    this.outbox.length = 0;
    throw error;
  }

  /** Makes progress by consuming bytes, emitting an event or changing phase; false when stuck for input. */
  private step(): boolean {
    switch (this.phase) {
      case 'head':
        return this.stepHead();
      case 'http-heads':
        return this.stepHttpHeads();
      case 'chunk-size':
        return this.stepChunkSize();
      case 'chunk-data':
        return this.stepChunkData();
      case 'chunk-data-end':
        return this.stepChunkDataEnd();
      case 'trailer':
        return this.stepTrailer();
      case 'preview-wait':
      case 'failed':
        return false;
    }
  }

  private consume(count: number): void {
    this.pendingOffset += count;
    this.pendingBytes -= count;
    const first = this.pending[0];
    if (first && this.pendingOffset >= first.length) {
      this.pending.shift();
      this.pendingOffset = 0;
    }
  }

  /** Removes exactly `count` buffered bytes (the caller checked they are there); copies only across buffers. */
  private take(count: number): Buffer {
    const first = this.pending[0];
    if (first && first.length - this.pendingOffset >= count) {
      const slice = first.subarray(this.pendingOffset, this.pendingOffset + count);
      this.consume(count);
      return slice;
    }
    const result = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const buffer = this.pending[0]!;
      const available = Math.min(buffer.length - this.pendingOffset, count - filled);
      buffer.copy(result, filled, this.pendingOffset, this.pendingOffset + available);
      filled += available;
      this.consume(available);
    }
    return result;
  }

  /** Reads one CRLF-terminated line, without the CRLF; null when it is not complete yet. */
  private readLine(): string | null {
    while (this.pendingBytes > 0) {
      const buffer = this.pending[0]!;
      const start = this.pendingOffset;
      const lineFeed = buffer.indexOf(LF, start);
      const end = lineFeed === -1 ? buffer.length : lineFeed + 1;
      if (this.lineBytes + (end - start) > MAX_LINE_BYTES + 2) {
        throw new IcapParseError(400, 'chunk or trailer line too long');
      }
      this.lineParts.push(buffer.subarray(start, end));
      this.lineBytes += end - start;
      this.consume(end - start);
      if (lineFeed !== -1) {
        const line = this.lineParts.length === 1 ? this.lineParts[0]! : Buffer.concat(this.lineParts, this.lineBytes);
        this.lineParts = [];
        this.lineBytes = 0;
        if (line.length < 2 || line[line.length - 2] !== CR) throw new IcapParseError(400, 'line not terminated by CRLF');
        return line.toString('latin1', 0, line.length - 2);
      }
    }
    return null;
  }

  private stepHead(): boolean {
    while (this.pendingBytes > 0) {
      const buffer = this.pending[0]!;
      const start = this.pendingOffset;
      let matched = this.headMatched;
      let index = start;
      // A byte-wise automaton for CRLFCRLF so the terminator is found even when split across reads.
      while (index < buffer.length && matched < 4) {
        const byte = buffer[index++];
        if (byte === CR) matched = matched === 2 ? 3 : 1;
        else if (byte === LF) matched = matched === 1 || matched === 3 ? matched + 1 : 0;
        else matched = 0;
      }
      const length = index - start;
      if (this.headBytes + length > this.limits.maxHeaderBytes) {
        throw new IcapParseError(413, 'ICAP header section exceeds the limit');
      }
      this.headParts.push(buffer.subarray(start, index));
      this.headBytes += length;
      this.headMatched = matched;
      this.consume(length);
      if (matched === 4) {
        const head = Buffer.concat(this.headParts, this.headBytes).toString('latin1');
        this.headParts = [];
        this.headBytes = 0;
        this.headMatched = 0;
        this.parseIcapHead(head);
        return true;
      }
    }
    return false;
  }

  private parseIcapHead(head: string): void {
    // RFC 9112 section 2.2 lets a server skip blank lines before a request line; stray CRLFs after a body are common.
    const text = head.replace(/^(?:\r\n)+/, '');
    if (text.length === 0) return;
    const lines = text.slice(0, -4).split('\r\n');
    const requestLine = lines[0] ?? '';
    const parts = requestLine.split(' ');
    if (parts.length !== 3 || CONTROL_CHARACTER.test(requestLine)) {
      throw new IcapParseError(400, 'malformed ICAP request line');
    }
    const [method, uri, version] = parts as [string, string, string];
    if (!/^ICAP\/\d+\.\d+$/.test(version)) throw new IcapParseError(400, 'malformed ICAP version');
    if (version !== 'ICAP/1.0') throw new IcapParseError(505, `unsupported version ${version}`);
    if (!ICAP_METHODS.has(method)) {
      throw new IcapParseError(TOKEN.test(method) ? 501 : 400, `unsupported ICAP method ${method.slice(0, 32)}`);
    }
    const icapMethod = method as IcapMethod;
    const uriMatch = ICAP_URI.exec(uri);
    if (!uriMatch) throw new IcapParseError(400, 'malformed ICAP URI');
    const headers = parseHeaderLines(lines, 1);

    const encapsulatedValues = getHttpHeaderValues(headers, 'Encapsulated');
    if (encapsulatedValues.length > 1) throw new IcapParseError(400, 'duplicate Encapsulated header');
    const encapsulatedValue = encapsulatedValues[0];
    let encapsulated: EncapsulatedSection[];
    if (encapsulatedValue === undefined) {
      // Squid sends OPTIONS without Encapsulated; every other method must describe its sections.
      if (icapMethod !== 'OPTIONS') throw new IcapParseError(400, 'missing Encapsulated header');
      encapsulated = [{ entity: 'null-body', offset: 0 }];
    } else {
      encapsulated = parseEncapsulated(encapsulatedValue, icapMethod, this.limits.maxHeaderBytes);
    }
    const bodySection = encapsulated[encapsulated.length - 1]!;
    const hasBody = bodySection.entity !== 'null-body';

    const previewValues = getHttpHeaderValues(headers, 'Preview');
    if (previewValues.length > 1) throw new IcapParseError(400, 'duplicate Preview header');
    let preview: number | null = null;
    const previewValue = previewValues[0];
    if (previewValue !== undefined && icapMethod !== 'OPTIONS') {
      if (!OFFSET.test(previewValue)) throw new IcapParseError(400, 'malformed Preview header');
      const previewBytes = Number(previewValue);
      if (previewBytes > this.limits.maxBodyBytes) throw new IcapParseError(413, 'Preview exceeds the body limit');
      // A preview only means something when there is a body to preview.
      if (hasBody) preview = previewBytes;
    }

    const allow204 = getHttpHeaderValues(headers, 'Allow').some((value) =>
      value.split(',').some((item) => item.trim() === '204'),
    );
    const authority = uriMatch[1]!;
    this.message = {
      method: icapMethod,
      uri,
      authority,
      service: (uriMatch[2] ?? '/').slice(1),
      query: uriMatch[3] ?? '',
      version,
      headers,
      encapsulated,
      httpRequest: null,
      httpResponse: null,
      hasBody,
      preview,
      allow204,
    };
    this.headerBlockBytes = bodySection.offset;
    if (this.headerBlockBytes > 0) {
      this.phase = 'http-heads';
    } else {
      this.startBody();
    }
  }

  private stepHttpHeads(): boolean {
    if (this.pendingBytes < this.headerBlockBytes) return false;
    const message = this.message!;
    const bytes = this.take(this.headerBlockBytes);
    const sections = message.encapsulated;
    for (let index = 0; index + 1 < sections.length; index++) {
      const section = sections[index]!;
      const block = bytes.subarray(section.offset, sections[index + 1]!.offset);
      if (section.entity === 'req-hdr') message.httpRequest = parseHttpRequestHead(block);
      else message.httpResponse = parseHttpResponseHead(block);
    }
    this.startBody();
    return true;
  }

  private startBody(): void {
    const message = this.message!;
    this.outbox.push({ type: 'message', message });
    if (!message.hasBody) {
      this.outbox.push({ type: 'end' });
      this.resetForNextMessage();
      return;
    }
    this.inPreview = message.preview !== null;
    this.previewRemaining = message.preview ?? 0;
    this.phase = 'chunk-size';
  }

  private stepChunkSize(): boolean {
    const line = this.readLine();
    if (line === null) return false;
    const match = CHUNK_SIZE_LINE.exec(line);
    if (!match) throw new IcapParseError(400, 'malformed chunk size');
    const digits = match[1]!;
    if (digits.length > MAX_CHUNK_SIZE_DIGITS) throw new IcapParseError(400, 'chunk size too large');
    const size = Number.parseInt(digits, 16);
    if (!Number.isSafeInteger(size)) throw new IcapParseError(400, 'chunk size too large');
    const ieof = parseChunkExtensions(match[2] ?? '');
    if (size === 0) {
      this.lastChunkIeof = ieof;
      this.trailerBytes = 0;
      this.phase = 'trailer';
      return true;
    }
    if (ieof) throw new IcapParseError(400, 'ieof on a chunk that is not the last');
    if (this.inPreview) {
      if (size > this.previewRemaining) throw new IcapParseError(400, 'preview longer than announced');
      this.previewRemaining -= size;
    }
    this.chunkRemaining = size;
    this.phase = 'chunk-data';
    return true;
  }

  private stepChunkData(): boolean {
    if (this.pendingBytes === 0) return false;
    const buffer = this.pending[0]!;
    const count = Math.min(buffer.length - this.pendingOffset, this.chunkRemaining);
    const data = buffer.subarray(this.pendingOffset, this.pendingOffset + count);
    this.consume(count);
    this.chunkRemaining -= count;
    if (this.chunkRemaining === 0) {
      this.crlfSeen = 0;
      this.phase = 'chunk-data-end';
    }
    this.outbox.push({ type: 'body', data });
    return true;
  }

  private stepChunkDataEnd(): boolean {
    while (this.crlfSeen < 2) {
      if (this.pendingBytes === 0) return false;
      const byte = this.pending[0]![this.pendingOffset];
      if (byte !== (this.crlfSeen === 0 ? CR : LF)) throw new IcapParseError(400, 'chunk data not followed by CRLF');
      this.consume(1);
      this.crlfSeen++;
    }
    this.phase = 'chunk-size';
    return true;
  }

  private stepTrailer(): boolean {
    const line = this.readLine();
    if (line === null) return false;
    if (line.length > 0) {
      this.trailerBytes += line.length + 2;
      if (this.trailerBytes > this.limits.maxHeaderBytes) throw new IcapParseError(413, 'trailer section exceeds the limit');
      const colon = line.indexOf(':');
      if (colon <= 0 || !TOKEN.test(line.slice(0, colon)) || CONTROL_CHARACTER.test(line)) {
        throw new IcapParseError(400, 'malformed trailer line');
      }
      return true;
    }
    if (this.inPreview) {
      this.outbox.push({ type: 'preview-end', ieof: this.lastChunkIeof });
      if (!this.lastChunkIeof) {
        this.phase = 'preview-wait';
        return true;
      }
    }
    // ieof outside a preview is meaningless but harmless: the body ended either way.
    this.outbox.push({ type: 'end' });
    this.resetForNextMessage();
    return true;
  }

  private resetForNextMessage(): void {
    this.phase = 'head';
    this.message = null;
    this.headerBlockBytes = 0;
    this.chunkRemaining = 0;
    this.inPreview = false;
    this.previewRemaining = 0;
    this.lastChunkIeof = false;
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
}

/** Returns whether the extensions after a chunk size contain `ieof`. */
function parseChunkExtensions(extensions: string): boolean {
  let ieof = false;
  CHUNK_EXTENSION.lastIndex = 0;
  while (CHUNK_EXTENSION.lastIndex < extensions.length) {
    const match = CHUNK_EXTENSION.exec(extensions);
    if (!match || match[0].length === 0) throw new IcapParseError(400, 'malformed chunk extension');
    if (match[1]!.toLowerCase() === 'ieof') ieof = true;
  }
  return ieof;
}

function parseHeaderLines(lines: readonly string[], first: number): HttpHeaderField[] {
  const headers: HttpHeaderField[] = [];
  for (let index = first; index < lines.length; index++) {
    const line = lines[index]!;
    const colon = line.indexOf(':');
    // Obsolete line folding starts with whitespace, which fails the token test too.
    if (colon <= 0) throw new IcapParseError(400, 'malformed header line');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new IcapParseError(400, 'malformed header name');
    if (CONTROL_CHARACTER.test(line)) throw new IcapParseError(400, 'control character in header');
    headers.push({ name, value: trimWhitespace(line.slice(colon + 1)) });
  }
  return headers;
}

function trimWhitespace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value[start] === ' ' || value[start] === '\t')) start++;
  while (end > start && (value[end - 1] === ' ' || value[end - 1] === '\t')) end--;
  return value.slice(start, end);
}

function parseEncapsulated(value: string, method: IcapMethod, maxHeaderBytes: number): EncapsulatedSection[] {
  const sections: EncapsulatedSection[] = [];
  for (const item of value.split(',')) {
    const text = item.trim();
    const equals = text.indexOf('=');
    const entity = text.slice(0, equals).trim().toLowerCase();
    const offsetText = text.slice(equals + 1).trim();
    if (equals <= 0 || !ENTITIES.has(entity) || !OFFSET.test(offsetText)) {
      throw new IcapParseError(400, 'malformed Encapsulated header');
    }
    sections.push({ entity: entity as EncapsulatedEntity, offset: Number(offsetText) });
  }
  const body = sections[sections.length - 1]!;
  if (HEADER_ENTITIES.has(body.entity)) throw new IcapParseError(400, 'Encapsulated header lacks a body section');
  if (!BODY_ENTITIES_BY_METHOD[method].has(body.entity)) {
    throw new IcapParseError(400, `${body.entity} is not allowed in ${method}`);
  }
  if (sections[0]!.offset !== 0) throw new IcapParseError(400, 'Encapsulated offsets must start at 0');
  let sawResponseHead = false;
  for (let index = 0; index + 1 < sections.length; index++) {
    const section = sections[index]!;
    const next = sections[index + 1]!;
    if (!HEADER_ENTITIES.has(section.entity)) throw new IcapParseError(400, 'body section before the end of Encapsulated');
    if (section.entity === 'req-hdr' && (index !== 0 || sawResponseHead)) {
      throw new IcapParseError(400, 'req-hdr out of order in Encapsulated');
    }
    if (section.entity === 'res-hdr') {
      if (sawResponseHead || method !== 'RESPMOD') throw new IcapParseError(400, 'unexpected res-hdr in Encapsulated');
      sawResponseHead = true;
    }
    if (next.offset <= section.offset) throw new IcapParseError(400, 'Encapsulated offsets must increase');
    if (next.offset - section.offset > maxHeaderBytes) {
      throw new IcapParseError(413, `encapsulated ${section.entity} exceeds the limit`);
    }
  }
  return sections;
}

function splitHeaderBlock(block: Buffer): string[] {
  const text = block.toString('latin1');
  if (!text.endsWith('\r\n\r\n')) throw new IcapParseError(400, 'encapsulated header block not terminated by an empty line');
  return text.slice(0, -4).split('\r\n');
}

function parseHttpRequestHead(block: Buffer): ParsedHttpRequestHead {
  const lines = splitHeaderBlock(block);
  const requestLine = lines[0]!;
  const parts = requestLine.split(' ');
  if (parts.length !== 3 || CONTROL_CHARACTER.test(requestLine)) {
    throw new IcapParseError(400, 'malformed encapsulated request line');
  }
  const [method, target, version] = parts as [string, string, string];
  if (!TOKEN.test(method) || target.length === 0 || !HTTP_VERSION.test(version)) {
    throw new IcapParseError(400, 'malformed encapsulated request line');
  }
  return { method, target, version, headers: parseHeaderLines(lines, 1), raw: block };
}

function parseHttpResponseHead(block: Buffer): ParsedHttpResponseHead {
  const lines = splitHeaderBlock(block);
  const statusLine = lines[0]!;
  const match = HTTP_STATUS_LINE.exec(statusLine);
  if (!match || CONTROL_CHARACTER.test(statusLine)) throw new IcapParseError(400, 'malformed encapsulated status line');
  return {
    version: match[1]!,
    status: Number(match[2]),
    reason: match[3] ?? '',
    headers: parseHeaderLines(lines, 1),
    raw: block,
  };
}

// ---------------------------------------------------------------------------------------------
// Header helpers

/** The first value of header `name` (case-insensitive), or undefined. */
export function getHttpHeader(headers: readonly HttpHeaderField[], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const header of headers) if (header.name.toLowerCase() === wanted) return header.value;
  return undefined;
}

/** Every value of header `name` (case-insensitive), in order. */
export function getHttpHeaderValues(headers: readonly HttpHeaderField[], name: string): string[] {
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (const header of headers) if (header.name.toLowerCase() === wanted) values.push(header.value);
  return values;
}

/** Whether header `name` is present (case-insensitive). */
export function hasHttpHeader(headers: readonly HttpHeaderField[], name: string): boolean {
  return getHttpHeader(headers, name) !== undefined;
}

/**
 * Sets header `name` to a single `value`, in place. The first existing occurrence keeps its
 * position and spelling; later occurrences are removed; absent headers are appended.
 */
export function setHttpHeader(headers: HttpHeaderField[], name: string, value: string): void {
  const wanted = name.toLowerCase();
  let found = false;
  for (let index = 0; index < headers.length; ) {
    const header = headers[index]!;
    if (header.name.toLowerCase() !== wanted) {
      index++;
    } else if (!found) {
      headers[index] = { name: header.name, value };
      found = true;
      index++;
    } else {
      headers.splice(index, 1);
    }
  }
  if (!found) headers.push({ name, value });
}

/** Appends another occurrence of header `name`, in place. */
export function appendHttpHeader(headers: HttpHeaderField[], name: string, value: string): void {
  headers.push({ name, value });
}

/** Removes every occurrence of header `name` (case-insensitive), in place; returns how many. */
export function removeHttpHeader(headers: HttpHeaderField[], name: string): number {
  const wanted = name.toLowerCase();
  let removed = 0;
  for (let index = headers.length - 1; index >= 0; index--) {
    if (headers[index]!.name.toLowerCase() === wanted) {
      headers.splice(index, 1);
      removed++;
    }
  }
  return removed;
}

/** A copy of a request head, without the received bytes, ready to be edited. */
export function cloneHttpRequestHead(head: HttpRequestHead): HttpRequestHead {
  return {
    method: head.method,
    target: head.target,
    version: head.version,
    headers: head.headers.map((header) => ({ name: header.name, value: header.value })),
  };
}

/** A copy of a response head, without the received bytes, ready to be edited. */
export function cloneHttpResponseHead(head: HttpResponseHead): HttpResponseHead {
  return {
    version: head.version,
    status: head.status,
    reason: head.reason,
    headers: head.headers.map((header) => ({ name: header.name, value: header.value })),
  };
}

// ---------------------------------------------------------------------------------------------
// Serialisers

const CRLF_BUFFER = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK_BUFFER = Buffer.from('0\r\n\r\n', 'latin1');
const CONTINUE_BUFFER = Buffer.from('ICAP/1.0 100 Continue\r\n\r\n', 'latin1');

/** The CRLF that closes each chunk's data. Shared; do not mutate. */
export const CHUNK_TERMINATOR: Buffer = CRLF_BUFFER;
/** The zero-size chunk that ends a chunked body. Shared; do not mutate. */
export const LAST_CHUNK: Buffer = LAST_CHUNK_BUFFER;

/** The `size CRLF` line that starts a chunk of `size` bytes. */
export function chunkHeader(size: number): Buffer {
  return Buffer.from(`${size.toString(16)}\r\n`, 'latin1');
}

/** `body` as a complete chunked body: one chunk (if not empty) and the last chunk. */
export function encodeChunkedBody(body: Buffer): Buffer[] {
  if (body.length === 0) return [LAST_CHUNK_BUFFER];
  return [chunkHeader(body.length), body, CRLF_BUFFER, LAST_CHUNK_BUFFER];
}

function assertHeaderFields(headers: readonly HttpHeaderField[]): void {
  for (const { name, value } of headers) {
    if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
    if (CONTROL_CHARACTER.test(value)) throw new TypeError(`invalid characters in header ${name}`);
  }
}

function headerLines(headers: readonly HttpHeaderField[]): string {
  let text = '';
  for (const { name, value } of headers) text += `${name}: ${value}\r\n`;
  return text;
}

/** Serialises an HTTP request head, ending with the empty line. Throws TypeError on unsafe fields. */
export function serializeHttpRequestHead(head: HttpRequestHead): Buffer {
  if (!TOKEN.test(head.method)) throw new TypeError('invalid HTTP method');
  if (head.target.length === 0 || /[\s\x00-\x1f\x7f]/.test(head.target)) throw new TypeError('invalid HTTP request target');
  if (!HTTP_VERSION.test(head.version)) throw new TypeError('invalid HTTP version');
  assertHeaderFields(head.headers);
  return Buffer.from(`${head.method} ${head.target} ${head.version}\r\n${headerLines(head.headers)}\r\n`, 'latin1');
}

/** Serialises an HTTP response head, ending with the empty line. Throws TypeError on unsafe fields. */
export function serializeHttpResponseHead(head: HttpResponseHead): Buffer {
  if (!HTTP_VERSION.test(head.version)) throw new TypeError('invalid HTTP version');
  if (!Number.isInteger(head.status) || head.status < 100 || head.status > 999) throw new TypeError('invalid HTTP status');
  if (CONTROL_CHARACTER.test(head.reason)) throw new TypeError('invalid HTTP reason phrase');
  assertHeaderFields(head.headers);
  return Buffer.from(`${head.version} ${head.status} ${head.reason}\r\n${headerLines(head.headers)}\r\n`, 'latin1');
}

/** The standard HTTP reason phrase for `status`, or an empty string. */
export function httpReason(status: number): string {
  return STATUS_CODES[status] ?? '';
}

/** Normalises an ISTag to the quoted form RFC 3507 section 4.7 requires (at most 32 characters inside). */
export function formatIstag(tag: string): string {
  const bare = tag.replace(/^"(.*)"$/, '$1').replace(/["\\\x00-\x1f\x7f]/g, '');
  return `"${bare.slice(0, 32)}"`;
}

/** Options for {@link serializeIcapResponseHead}. */
export interface IcapResponseHeadOptions {
  status: number;
  /** Defaults to the RFC 3507 reason phrase. */
  reason?: string;
  /** Formatted with {@link formatIstag}. */
  istag?: string;
  headers?: readonly HttpHeaderField[];
  /** The `Encapsulated` header value; omitted when undefined (as for 100 Continue). */
  encapsulated?: string;
  /** Adds `Connection: close`. */
  close?: boolean;
}

/** Serialises an ICAP response head (status line and headers, ending with the empty line). */
export function serializeIcapResponseHead(options: IcapResponseHeadOptions): Buffer {
  const reason = options.reason ?? ICAP_REASONS[options.status] ?? 'Unknown';
  if (CONTROL_CHARACTER.test(reason)) throw new TypeError('invalid ICAP reason phrase');
  let text = `ICAP/1.0 ${options.status} ${reason}\r\n`;
  if (options.istag !== undefined) text += `ISTag: ${formatIstag(options.istag)}\r\n`;
  if (options.headers) {
    assertHeaderFields(options.headers);
    text += headerLines(options.headers);
  }
  if (options.close) text += 'Connection: close\r\n';
  if (options.encapsulated !== undefined) text += `Encapsulated: ${options.encapsulated}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/** The sections of an adapted message, for {@link serializeIcapOk}. */
export interface IcapAdaptedMessage {
  /** A serialised HTTP request head (REQMOD only). */
  httpRequestHead?: Buffer;
  /** A serialised HTTP response head. */
  httpResponseHead?: Buffer;
  /** Which body section follows the heads; null for `null-body`. */
  body: 'req-body' | 'res-body' | null;
}

/**
 * The `Encapsulated` value for the given head lengths: heads in RFC order from offset 0, then
 * the body section (or `null-body`) at their total length.
 */
export function encapsulatedValue(message: {
  httpRequestHeadLength?: number;
  httpResponseHeadLength?: number;
  body: 'req-body' | 'res-body' | null;
}): string {
  const items: string[] = [];
  let offset = 0;
  if (message.httpRequestHeadLength !== undefined) {
    items.push(`req-hdr=${offset}`);
    offset += message.httpRequestHeadLength;
  }
  if (message.httpResponseHeadLength !== undefined) {
    items.push(`res-hdr=${offset}`);
    offset += message.httpResponseHeadLength;
  }
  items.push(`${message.body ?? 'null-body'}=${offset}`);
  return items.join(', ');
}

/**
 * A `200 OK` answer carrying an adapted message, as buffers to write in order: the ICAP head then
 * the HTTP heads. A chunked body, when `message.body` is set, must follow.
 */
export function serializeIcapOk(istag: string, message: IcapAdaptedMessage, headers?: readonly HttpHeaderField[]): Buffer[] {
  const encapsulated = encapsulatedValue({
    ...(message.httpRequestHead ? { httpRequestHeadLength: message.httpRequestHead.length } : {}),
    ...(message.httpResponseHead ? { httpResponseHeadLength: message.httpResponseHead.length } : {}),
    body: message.body,
  });
  const parts = [serializeIcapResponseHead({ status: 200, istag, encapsulated, ...(headers ? { headers } : {}) })];
  if (message.httpRequestHead) parts.push(message.httpRequestHead);
  if (message.httpResponseHead) parts.push(message.httpResponseHead);
  return parts;
}

/** `ICAP/1.0 100 Continue`, the answer that asks for the rest of a previewed body. Shared; do not mutate. */
export function serializeIcapContinue(): Buffer {
  return CONTINUE_BUFFER;
}

/** `ICAP/1.0 204 No Content`: the client uses its original message. */
export function serializeIcapNoContent(istag: string): Buffer {
  return serializeIcapResponseHead({ status: 204, istag, encapsulated: 'null-body=0' });
}

/** An ICAP error answer (4xx/5xx) with `Connection: close` unless `close` is false. */
export function serializeIcapError(status: number, options: { istag?: string; reason?: string; close?: boolean } = {}): Buffer {
  return serializeIcapResponseHead({
    status,
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
    ...(options.istag !== undefined ? { istag: options.istag } : {}),
    encapsulated: 'null-body=0',
    close: options.close ?? true,
  });
}

/** The answer to OPTIONS for one service (RFC 3507 section 4.10.2). */
export function serializeIcapOptionsResponse(
  options: IcapServiceOptions,
  defaults: { maxConnections?: number; date?: Date } = {},
): Buffer {
  if (options.methods.length === 0) throw new TypeError('a service must support at least one method');
  const headers: HttpHeaderField[] = [
    { name: 'Methods', value: options.methods.join(', ') },
    { name: 'Service', value: options.serviceDescription ?? 'privgate web-proxy' },
    { name: 'Date', value: (defaults.date ?? new Date()).toUTCString() },
  ];
  const maxConnections = options.maxConnections ?? defaults.maxConnections;
  if (maxConnections !== undefined) headers.push({ name: 'Max-Connections', value: String(integer(maxConnections)) });
  if (options.optionsTtl !== undefined) headers.push({ name: 'Options-TTL', value: String(integer(options.optionsTtl)) });
  if (options.allow204 ?? true) headers.push({ name: 'Allow', value: '204' });
  if (options.previewBytes !== undefined) headers.push({ name: 'Preview', value: String(integer(options.previewBytes)) });
  const lists: [string, readonly string[] | undefined][] = [
    ['Transfer-Preview', options.transferPreview],
    ['Transfer-Ignore', options.transferIgnore],
    ['Transfer-Complete', options.transferComplete],
  ];
  for (const [name, list] of lists) if (list && list.length > 0) headers.push({ name, value: list.join(', ') });
  return serializeIcapResponseHead({ status: 200, istag: options.istag, headers, encapsulated: 'null-body=0' });
}

function integer(value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`expected a non-negative integer, got ${value}`);
  return value;
}
