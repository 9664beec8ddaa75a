/**
 * HTTP header fields as the ICAP daemon sees them: the field syntax the parser enforces and the
 * serialisers check, and the helpers that read and edit a parsed head's header list in place.
 *
 * Pure: no I/O.
 */
import type { HttpHeaderField, HttpRequestHead, HttpResponseHead } from './icap-types.js';

/** An RFC 9110 token: a header name, an HTTP or ICAP method. */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Control characters other than horizontal tab; they never belong in a header line. */
export const CONTROL_CHARACTER = /[\x00-\x08\x0a-\x1f\x7f]/;
/** `HTTP/x.y`. */
export const HTTP_VERSION = /^HTTP\/\d\.\d$/;

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
