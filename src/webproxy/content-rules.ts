/**
 * What counts as a file transfer, an audio response or a page, judged from HTTP header blocks and
 * (for uploads) the start of a request body. Pure: no I/O, no clock, no policy.
 *
 * The rules lean towards "file" whenever a body cannot be shown to be ordinary page traffic,
 * because a proxy that enforces `web.file_transfer = false` must fail closed.
 */
import { getHttpHeader } from './icap-headers.js';
import type { HttpHeaderField } from './icap-types.js';

/**
 * Default of the upload rule: with `web.file_transfer = false`, a request body of ANY type larger
 * than this many bytes is blocked (`too_large`). 64 KiB is far above what page traffic sends
 * (login and search forms, JSON/XHR calls, CSP reports: typically under a few KiB), yet bounds
 * what one request can carry out to a few dozen pages of text and what the proxy buffers per
 * request. Configurable per web proxy (`[content] max_upload_bytes`, a privgate extension).
 */
export const DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024;

/** Why a message counts as a file transfer. */
export type TransferCause =
  /** A multipart form part carrying a file name. */
  | 'multipart_file'
  /** A request or response body whose type is a file type rather than form data or a page. */
  | 'file_type'
  /** A request body larger than the upload limit (or too large to inspect). */
  | 'too_large'
  /** A response with `Content-Disposition: attachment`. */
  | 'attachment';

/** The facts about one file transfer that end up in an audit event. */
export interface TransferFacts {
  direction: 'upload' | 'download';
  cause: TransferCause;
  /** Media type without parameters, lower case; empty when the message had none. */
  contentType: string;
  /** The file name from Content-Disposition, when one was sent (trimmed to 200 characters). */
  filename?: string;
  /** Body size when known (Content-Length, or the bytes seen). */
  bytes?: number;
}

/** How much of a request body the classifier can look at. */
export interface BodyView {
  /** As in `IcapBody.state`. */
  state: 'absent' | 'unread' | 'preview' | 'complete' | 'truncated';
  /** The bytes seen so far (all of them when `complete`). */
  bytes(): Buffer;
  length: number;
}

/**
 * Result of {@link classifyUpload}. `need-body` asks for the rest of the body; the caller must
 * read at most `maxInspectBytes + 1` bytes of it (one more tells "over the limit" apart).
 */
export type UploadClass = { kind: 'none' } | { kind: 'file'; facts: TransferFacts } | { kind: 'need-body' };

/** Media type of a Content-Type value: lower case, parameters and whitespace removed. */
export function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semicolon = contentType.indexOf(';');
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/** A parameter of a header value such as Content-Type or Content-Disposition (quoted or token form). */
export function headerParameter(value: string, name: string): string | undefined {
  const pattern = new RegExp(`;\\s*${name.replace(/[*]/g, '\\*')}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i');
  const match = pattern.exec(value);
  if (!match) return undefined;
  if (match[1] !== undefined) return match[1].replace(/\\(.)/g, '$1');
  return match[2];
}

/** The file name a Content-Disposition value carries (`filename*` preferred), or undefined. */
export function dispositionFilename(value: string): string | undefined {
  const extended = headerParameter(value, 'filename*');
  if (extended !== undefined) {
    // RFC 8187: charset'language'percent-encoded
    const quote = extended.indexOf("'", extended.indexOf("'") + 1);
    const encoded = quote === -1 ? extended : extended.slice(quote + 1);
    try {
      return decodeURIComponent(encoded);
    } catch {
      return encoded;
    }
  }
  return headerParameter(value, 'filename');
}

/** Content types of request bodies that are form data or API payloads, not files. */
export function isFormDataType(type: string): boolean {
  return (
    type === 'application/x-www-form-urlencoded' ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/graphql' ||
    type === 'application/javascript' ||
    type === 'application/csp-report' ||
    type === 'application/reports+json' ||
    type.startsWith('text/')
  );
}

/**
 * Content types a browser renders in the page (or uses as a page resource) rather than offers as
 * a file. Anything else (application/octet-stream, archives, PDF, office documents, …) is a download.
 */
export function isRenderableType(type: string): boolean {
  return (
    type.startsWith('text/') ||
    type.startsWith('image/') ||
    type.startsWith('font/') ||
    type.startsWith('video/') ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/javascript' ||
    type === 'application/x-javascript' ||
    type === 'application/ecmascript' ||
    type === 'application/wasm' ||
    type === 'application/font-woff' ||
    type === 'application/font-woff2' ||
    type === 'application/x-font-woff' ||
    type === 'application/vnd.ms-fontobject' ||
    type === 'application/dns-message' ||
    type === 'application/ocsp-response'
  );
}

/** Whether a response is audio (`audio/*`, or Ogg, which is mostly audio). */
export function isAudioType(type: string): boolean {
  return type.startsWith('audio/') || type === 'application/ogg';
}

/** Types whose responses are documents that Permissions-Policy and CSP headers apply to. */
export function isDocumentType(type: string): boolean {
  return type === '' || type === 'text/html' || type === 'application/xhtml+xml' || type === 'image/svg+xml' || type === 'text/xml' || type === 'application/xml';
}

function contentLength(headers: readonly HttpHeaderField[]): number | undefined {
  const value = getHttpHeader(headers, 'Content-Length');
  if (value === undefined || !/^\s*\d{1,15}\s*$/.test(value)) return undefined;
  return Number(value);
}

function trimName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  // Control characters never belong in an audit field; long names are cut.
  const clean = name.replace(/[\x00-\x1f\x7f]/g, '').trim();
  return clean.length === 0 ? undefined : clean.slice(0, 200);
}

/** Result of {@link scanMultipart}. */
export type MultipartScan = { kind: 'file'; filename: string } | { kind: 'none' } | { kind: 'incomplete' };

/**
 * Looks for a part with a file name in a multipart body (or the start of one). `complete` says
 * whether `data` is the whole body; when it is not and no file part has been seen yet the answer
 * is `incomplete`. A part with an empty file name (an unused file input) is not a file.
 */
export function scanMultipart(data: Buffer, boundary: string, complete: boolean): MultipartScan {
  const text = data.toString('latin1');
  const delimiter = `--${boundary}`;
  let position = text.indexOf(delimiter);
  if (position === -1) return complete ? { kind: 'none' } : { kind: 'incomplete' };
  for (;;) {
    const afterDelimiter = position + delimiter.length;
    if (text.startsWith('--', afterDelimiter)) return { kind: 'none' };
    const headersEnd = text.indexOf('\r\n\r\n', afterDelimiter);
    if (headersEnd === -1) return complete ? { kind: 'none' } : { kind: 'incomplete' };
    const headerLines = text.slice(afterDelimiter, headersEnd).split('\r\n');
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      if (colon === -1 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
      const filename = dispositionFilename(line.slice(colon + 1));
      if (filename !== undefined && filename.length > 0) return { kind: 'file', filename: Buffer.from(filename, 'latin1').toString('utf8') };
    }
    const next = text.indexOf(`\r\n${delimiter}`, headersEnd + 4);
    if (next === -1) return complete ? { kind: 'none' } : { kind: 'incomplete' };
    position = next + 2;
  }
}

/**
 * Whether a request uploads a file. `hasBody` is whether the ICAP request encapsulates a body;
 * `maxInspectBytes` is the largest body judged by content: larger ones, of any type, count as
 * `too_large` (by Content-Length from the headers alone; a body of unknown length once more
 * than that many bytes have been seen). Answers `need-body` only while `body.state` is `unread`
 * or `preview`.
 */
export function classifyUpload(headers: readonly HttpHeaderField[], hasBody: boolean, body: BodyView, maxInspectBytes: number): UploadClass {
  if (!hasBody || body.state === 'absent') return { kind: 'none' };
  const declared = contentLength(headers);
  if (declared === 0) return { kind: 'none' };
  const contentTypeValue = getHttpHeader(headers, 'Content-Type') ?? '';
  const type = mediaType(contentTypeValue);
  const facts = (cause: TransferCause, filename?: string): UploadClass => {
    const bytes = declared ?? (body.state === 'complete' ? body.length : undefined);
    const name = trimName(filename);
    return {
      kind: 'file',
      facts: { direction: 'upload', cause, contentType: type, ...(name !== undefined ? { filename: name } : {}), ...(bytes !== undefined ? { bytes } : {}) },
    };
  };
  const canReadMore = body.state === 'unread' || body.state === 'preview';

  if (type.startsWith('multipart/')) {
    const boundary = headerParameter(contentTypeValue, 'boundary');
    if (boundary === undefined || boundary.length === 0 || boundary.length > 200) return facts('file_type');
    let scan: MultipartScan = { kind: 'incomplete' };
    if (body.state !== 'unread') {
      scan = scanMultipart(body.bytes(), boundary, body.state === 'complete');
      if (scan.kind === 'file') return facts('multipart_file', scan.filename);
    }
    if (declared !== undefined && declared > maxInspectBytes) return facts('too_large');
    if (body.length > maxInspectBytes || body.state === 'truncated') return facts('too_large');
    if (scan.kind === 'none' && body.state === 'complete') return { kind: 'none' };
    return canReadMore ? { kind: 'need-body' } : { kind: 'none' };
  }

  if (!isFormDataType(type)) {
    const disposition = getHttpHeader(headers, 'Content-Disposition');
    return facts('file_type', disposition === undefined ? undefined : dispositionFilename(disposition));
  }
  if (declared !== undefined) return declared > maxInspectBytes ? facts('too_large') : { kind: 'none' };
  // Form data of unknown length (chunked): read it to learn its size, counting as it comes.
  if (body.length > maxInspectBytes) return facts('too_large');
  if (body.state === 'complete') return { kind: 'none' };
  if (body.state === 'truncated') return facts('too_large');
  return canReadMore ? { kind: 'need-body' } : { kind: 'none' };
}

/** Whether a response to `requestMethod` with this status can carry a body at all. */
export function responseHasBody(requestMethod: string, status: number, headers: readonly HttpHeaderField[]): boolean {
  if (requestMethod === 'HEAD' || requestMethod === 'CONNECT') return false;
  if (status < 200 || status === 204 || status === 304) return false;
  return contentLength(headers) !== 0;
}

/**
 * Whether a response is a file download: `Content-Disposition: attachment`, or a successful
 * response whose type a browser does not render (a missing type counts as
 * application/octet-stream, RFC 9110 section 8.3).
 */
export function classifyDownload(requestMethod: string, status: number, headers: readonly HttpHeaderField[]): TransferFacts | null {
  if (!responseHasBody(requestMethod, status, headers)) return null;
  const type = mediaType(getHttpHeader(headers, 'Content-Type'));
  const disposition = getHttpHeader(headers, 'Content-Disposition');
  const filename = trimName(disposition === undefined ? undefined : dispositionFilename(disposition));
  const bytes = contentLength(headers);
  const facts = (cause: TransferCause): TransferFacts => ({
    direction: 'download',
    cause,
    contentType: type,
    ...(filename !== undefined ? { filename } : {}),
    ...(bytes !== undefined ? { bytes } : {}),
  });
  if (disposition !== undefined && /^\s*attachment\b/i.test(disposition)) return facts('attachment');
  const successful = status >= 200 && status < 300;
  if (!successful) return null;
  if (type === '' || (!isRenderableType(type) && !isAudioType(type))) return facts('file_type');
  return null;
}
