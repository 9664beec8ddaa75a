/**
 * ICAP/1.0 (RFC 3507) response serialisers: ICAP response heads (200 with an adapted message,
 * 100 Continue, 204, errors, the OPTIONS answer), the encapsulated HTTP heads and chunked bodies.
 *
 * Pure: they build buffers and never write them; the connection does.
 */
import { STATUS_CODES } from 'node:http';
import { CONTROL_CHARACTER, HTTP_VERSION, TOKEN } from './icap-headers.js';
import type { HttpHeaderField, HttpRequestHead, HttpResponseHead, IcapServiceOptions } from './icap-types.js';

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
