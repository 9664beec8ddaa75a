/**
 * ICAP/1.0 (RFC 3507) wire format: an incremental request parser. The response serialisers are
 * in `icap-responses.ts`, the header field helpers in `icap-headers.ts`.
 *
 * Pure: no sockets, no timers. The connection pushes received buffers in and pulls events out,
 * one at a time, so it can stop between messages (pipelining) or at the end of a preview while
 * the policy decides, without the parser running ahead.
 */
import { CONTROL_CHARACTER, getHttpHeaderValues, HTTP_VERSION, TOKEN } from './icap-headers.js';
import type {
  EncapsulatedEntity,
  EncapsulatedSection,
  HttpHeaderField,
  IcapLimits,
  IcapMethod,
  IcapRequest,
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

const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]+)[ \t]*(;.*)?$/;
const CHUNK_EXTENSION = /[ \t]*;[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:[ \t]*=[ \t]*(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"(?:[^"\\]|\\.)*"))?[ \t]*/y;
const ICAP_URI = /^icaps?:\/\/([^/?#\s]+)(\/[^?#\s]*)?(?:\?([^#\s]*))?$/i;
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
