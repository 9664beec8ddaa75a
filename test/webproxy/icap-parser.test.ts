import { describe, expect, it } from 'vitest';
import { cloneHttpRequestHead, getHttpHeader, getHttpHeaderValues, removeHttpHeader, setHttpHeader } from '../../src/webproxy/icap-headers.js';
import { IcapParseError, IcapParser } from '../../src/webproxy/icap-parser.js';
import {
  encapsulatedValue,
  encodeChunkedBody,
  formatIstag,
  serializeHttpRequestHead,
  serializeHttpResponseHead,
  serializeIcapError,
  serializeIcapNoContent,
  serializeIcapOk,
  serializeIcapOptionsResponse,
} from '../../src/webproxy/icap-responses.js';
import type { IcapParserEvent, IcapParserOptions } from '../../src/webproxy/icap-parser.js';
import type { HttpHeaderField, IcapRequest } from '../../src/webproxy/icap-types.js';

const OPTIONS_REQUEST = 'OPTIONS icap://127.0.0.1:1344/reqmod ICAP/1.0\r\nHost: 127.0.0.1:1344\r\nAllow: 206\r\n\r\n';

const GET_HEAD =
  'GET http://example.com/index.html?q=1 HTTP/1.1\r\n' +
  'Host: example.com\r\n' +
  'User-Agent: curl/8.0\r\n' +
  'accept: */*\r\n' +
  'X-Odd-Value: caf\xe9 \t tab\r\n' +
  '\r\n';

const REQMOD_GET =
  'REQMOD icap://127.0.0.1:1344/reqmod?mode=strict ICAP/1.0\r\n' +
  'Host: 127.0.0.1:1344\r\n' +
  'Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n' +
  `Encapsulated: req-hdr=0, null-body=${GET_HEAD.length}\r\n` +
  'Allow: 204, trailers\r\n' +
  'X-Client-IP: 10.0.0.5\r\n' +
  '\r\n' +
  GET_HEAD;

const POST_HEAD =
  'POST http://upload.example.com/form HTTP/1.1\r\n' +
  'Host: upload.example.com\r\n' +
  'Content-Type: multipart/form-data; boundary=xyz\r\n' +
  'Content-Length: 11\r\n' +
  '\r\n';

const REQMOD_POST_PREVIEW_IEOF =
  'REQMOD icap://127.0.0.1:1344/reqmod ICAP/1.0\r\n' +
  'Host: 127.0.0.1:1344\r\n' +
  `Encapsulated: req-hdr=0, req-body=${POST_HEAD.length}\r\n` +
  'Preview: 1024\r\n' +
  'Allow: 204\r\n' +
  '\r\n' +
  POST_HEAD +
  'b\r\nhello world\r\n' +
  '0; ieof\r\n\r\n';

const REQMOD_POST_PREVIEW =
  'REQMOD icap://127.0.0.1:1344/reqmod ICAP/1.0\r\n' +
  'Host: 127.0.0.1:1344\r\n' +
  `Encapsulated: req-hdr=0, req-body=${POST_HEAD.length}\r\n` +
  'Preview: 4\r\n' +
  '\r\n' +
  POST_HEAD +
  '4\r\nhell\r\n' +
  '0\r\n\r\n';
const REQMOD_POST_REST = '7\r\no world\r\n0\r\n\r\n';

const RESPMOD_REQUEST_HEAD = 'GET /page HTTP/1.1\r\nHost: www.example.org\r\n\r\n';
const RESPMOD_RESPONSE_HEAD =
  'HTTP/1.1 200 OK\r\n' + 'Content-Type: text/html\r\n' + 'Transfer-Encoding: chunked\r\n' + 'Set-Cookie: a=b\r\n' + '\r\n';
const RESPMOD =
  'RESPMOD icap://icap.example.net/respmod ICAP/1.0\r\n' +
  'Host: icap.example.net\r\n' +
  `Encapsulated: req-hdr=0, res-hdr=${RESPMOD_REQUEST_HEAD.length}, res-body=${
    RESPMOD_REQUEST_HEAD.length + RESPMOD_RESPONSE_HEAD.length
  }\r\n` +
  '\r\n' +
  RESPMOD_REQUEST_HEAD +
  RESPMOD_RESPONSE_HEAD +
  '5;name=value; quoted="a;b"\r\nhello\r\n' +
  'A\r\n, world!!!\r\n' +
  '0\r\n\r\n';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

type PreviewChoice = 'continue' | 'finish';

/** Parses `pieces` in order, resolving previews with `choice`, and returns the events in a comparable form. */
function parsePieces(pieces: readonly Buffer[], choice: PreviewChoice = 'continue', options?: IcapParserOptions): unknown[] {
  const parser = new IcapParser(options);
  const events: IcapParserEvent[] = [];
  for (const piece of pieces) {
    parser.push(piece);
    for (;;) {
      const event = parser.read();
      if (event) {
        events.push(event);
        continue;
      }
      if (!parser.awaitingPreviewDecision) break;
      if (choice === 'continue') parser.continueAfterPreview();
      else parser.finishAfterPreview();
    }
  }
  return normalise(events);
}

/** Joins adjacent body events and turns buffers into strings, so different splits compare equal. */
function normalise(events: readonly IcapParserEvent[]): unknown[] {
  const result: unknown[] = [];
  for (const event of events) {
    const last = result[result.length - 1] as { type: string; data: string } | undefined;
    if (event.type === 'body') {
      if (last?.type === 'body') last.data += event.data.toString('latin1');
      else result.push({ type: 'body', data: event.data.toString('latin1') });
    } else if (event.type === 'message') {
      result.push({ type: 'message', message: describeMessage(event.message) });
    } else {
      result.push({ ...event });
    }
  }
  return result;
}

function describeMessage(message: IcapRequest): unknown {
  return {
    ...message,
    httpRequest: message.httpRequest && { ...message.httpRequest, raw: message.httpRequest.raw.toString('latin1') },
    httpResponse: message.httpResponse && { ...message.httpResponse, raw: message.httpResponse.raw.toString('latin1') },
  };
}

function parseOne(text: string, options?: IcapParserOptions): IcapParserEvent[] {
  return new IcapParser(options).feed(latin1(text));
}

function expectParseError(text: string, status: number, options?: IcapParserOptions): IcapParseError {
  const parser = new IcapParser(options);
  let caught: unknown;
  try {
    parser.feed(latin1(text));
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(IcapParseError);
  const error = caught as IcapParseError;
  expect(error.status).toBe(status);
  // The failure sticks: the stream has no recoverable message boundary any more.
  expect(() => parser.read()).toThrow(error);
  expect(parser.failed).toBe(true);
  return error;
}

function messageOf(events: readonly IcapParserEvent[]): IcapRequest {
  const first = events[0];
  if (first?.type !== 'message') throw new Error('first event is not a message');
  return first.message;
}

describe('IcapParser: valid messages', () => {
  it('parses an OPTIONS request without Encapsulated', () => {
    const events = parseOne(OPTIONS_REQUEST);
    expect(events.map((event) => event.type)).toEqual(['message', 'end']);
    const message = messageOf(events);
    expect(message).toMatchObject({
      method: 'OPTIONS',
      uri: 'icap://127.0.0.1:1344/reqmod',
      authority: '127.0.0.1:1344',
      service: 'reqmod',
      query: '',
      version: 'ICAP/1.0',
      hasBody: false,
      preview: null,
      allow204: false,
      httpRequest: null,
      httpResponse: null,
      encapsulated: [{ entity: 'null-body', offset: 0 }],
    });
    expect(message.headers).toEqual([
      { name: 'Host', value: '127.0.0.1:1344' },
      { name: 'Allow', value: '206' },
    ]);
  });

  it('parses a Squid-style REQMOD GET with null-body, keeping header order, case and bytes', () => {
    const events = parseOne(REQMOD_GET);
    expect(events.map((event) => event.type)).toEqual(['message', 'end']);
    const message = messageOf(events);
    expect(message.service).toBe('reqmod');
    expect(message.query).toBe('mode=strict');
    expect(message.allow204).toBe(true);
    expect(message.hasBody).toBe(false);
    expect(message.encapsulated).toEqual([
      { entity: 'req-hdr', offset: 0 },
      { entity: 'null-body', offset: GET_HEAD.length },
    ]);
    expect(getHttpHeader(message.headers, 'x-client-ip')).toBe('10.0.0.5');
    const request = message.httpRequest!;
    expect(request.method).toBe('GET');
    expect(request.target).toBe('http://example.com/index.html?q=1');
    expect(request.version).toBe('HTTP/1.1');
    expect(request.headers).toEqual([
      { name: 'Host', value: 'example.com' },
      { name: 'User-Agent', value: 'curl/8.0' },
      { name: 'accept', value: '*/*' },
      { name: 'X-Odd-Value', value: 'caf\xe9 \t tab' },
    ]);
    expect(request.raw.toString('latin1')).toBe(GET_HEAD);
    // Re-serialising an untouched head reproduces the received bytes exactly.
    expect(serializeHttpRequestHead(request).equals(request.raw)).toBe(true);
  });

  it('parses a REQMOD POST whose preview holds the whole body (ieof)', () => {
    const events = parseOne(REQMOD_POST_PREVIEW_IEOF);
    expect(normalise(events).map((event) => (event as { type: string }).type)).toEqual([
      'message',
      'body',
      'preview-end',
      'end',
    ]);
    const message = messageOf(events);
    expect(message.preview).toBe(1024);
    expect(message.hasBody).toBe(true);
    expect(message.httpRequest?.method).toBe('POST');
    expect(normalise(events)[1]).toEqual({ type: 'body', data: 'hello world' });
    expect(events[2]).toEqual({ type: 'preview-end', ieof: true });
  });

  it('waits after a preview until told to continue, then reads the rest of the same message', () => {
    const parser = new IcapParser();
    const first = parser.feed(latin1(REQMOD_POST_PREVIEW + REQMOD_POST_REST));
    expect(normalise(first)).toEqual([
      { type: 'message', message: expect.anything() },
      { type: 'body', data: 'hell' },
      { type: 'preview-end', ieof: false },
    ]);
    expect(parser.awaitingPreviewDecision).toBe(true);
    expect(parser.read()).toBeNull();
    expect(parser.bufferedBytes).toBe(REQMOD_POST_REST.length);
    parser.continueAfterPreview();
    const rest: IcapParserEvent[] = [];
    for (let event = parser.read(); event; event = parser.read()) rest.push(event);
    expect(normalise(rest)).toEqual([{ type: 'body', data: 'o world' }, { type: 'end' }]);
    expect(parser.idle).toBe(true);
  });

  it('starts the next message right after a preview answered with a final response', () => {
    const parser = new IcapParser();
    const first = parser.feed(latin1(REQMOD_POST_PREVIEW + OPTIONS_REQUEST));
    expect(first[first.length - 1]).toEqual({ type: 'preview-end', ieof: false });
    parser.finishAfterPreview();
    const next = parser.feed(Buffer.alloc(0));
    expect(next.map((event) => event.type)).toEqual(['message', 'end']);
    expect(messageOf(next).method).toBe('OPTIONS');
  });

  it('parses RESPMOD with req-hdr, res-hdr, res-body and chunk extensions', () => {
    const events = parseOne(RESPMOD);
    const message = messageOf(events);
    expect(message.method).toBe('RESPMOD');
    expect(message.service).toBe('respmod');
    expect(message.encapsulated.map((section) => section.entity)).toEqual(['req-hdr', 'res-hdr', 'res-body']);
    expect(message.httpRequest?.raw.toString('latin1')).toBe(RESPMOD_REQUEST_HEAD);
    expect(message.httpResponse).toMatchObject({
      version: 'HTTP/1.1',
      status: 200,
      reason: 'OK',
      headers: [
        { name: 'Content-Type', value: 'text/html' },
        { name: 'Transfer-Encoding', value: 'chunked' },
        { name: 'Set-Cookie', value: 'a=b' },
      ],
    });
    expect(message.httpResponse?.raw.toString('latin1')).toBe(RESPMOD_RESPONSE_HEAD);
    expect(normalise(events).slice(1)).toEqual([{ type: 'body', data: 'hello, world!!!' }, { type: 'end' }]);
  });

  it('hands out body data as views of the pushed buffer, not copies', () => {
    const input = latin1(RESPMOD);
    const events = new IcapParser().feed(input);
    const body = events.find((event) => event.type === 'body');
    expect(body?.type).toBe('body');
    if (body?.type === 'body') expect(body.data.buffer).toBe(input.buffer);
  });

  it('parses back-to-back messages on one stream and skips blank lines between them', () => {
    const events = parseOne(REQMOD_GET + '\r\n' + RESPMOD + OPTIONS_REQUEST);
    const methods = events.filter((event) => event.type === 'message').map((event) => messageOf([event]).method);
    expect(methods).toEqual(['REQMOD', 'RESPMOD', 'OPTIONS']);
    expect(events.filter((event) => event.type === 'end')).toHaveLength(3);
  });

  it('accepts Preview: 0 with an immediate ieof and ignores Preview on body-less messages', () => {
    const zero =
      'REQMOD icap://h/s ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body=' +
      POST_HEAD.length +
      '\r\nPreview: 0\r\n\r\n' +
      POST_HEAD +
      '0; ieof\r\n\r\n';
    expect(normalise(parseOne(zero)).slice(1)).toEqual([{ type: 'preview-end', ieof: true }, { type: 'end' }]);
    const nullBody = REQMOD_GET.replace('Allow: 204', 'Preview: 0\r\nAllow: 204');
    expect(messageOf(parseOne(nullBody)).preview).toBeNull();
  });

  it('parses the same events whatever the split point, for every byte offset', () => {
    const corpus = [OPTIONS_REQUEST, REQMOD_GET, REQMOD_POST_PREVIEW_IEOF, REQMOD_POST_PREVIEW + REQMOD_POST_REST, RESPMOD];
    const stream = latin1(corpus.join(''));
    const whole = parsePieces([stream]);
    expect(whole.filter((event) => (event as { type: string }).type === 'message')).toHaveLength(5);
    for (let offset = 0; offset <= stream.length; offset++) {
      const split = parsePieces([stream.subarray(0, offset), stream.subarray(offset)]);
      expect(split, `split at ${offset}`).toEqual(whole);
    }
    const byteByByte = parsePieces(Array.from({ length: stream.length }, (_, index) => stream.subarray(index, index + 1)));
    expect(byteByByte).toEqual(whole);
  });

  it('keeps nothing buffered while streaming a huge chunk', () => {
    const parser = new IcapParser();
    parser.feed(latin1(`REQMOD icap://h/s ICAP/1.0\r\nEncapsulated: req-body=0\r\n\r\nfffffffffff\r\n`));
    const piece = Buffer.alloc(64 * 1024, 0x61);
    let bodyBytes = 0;
    for (let round = 0; round < 160; round++) {
      for (const event of parser.feed(piece)) if (event.type === 'body') bodyBytes += event.data.length;
      expect(parser.bufferedBytes).toBe(0);
    }
    expect(bodyBytes).toBe(160 * piece.length);
  });

  it('consumes endless blank lines without buffering them', () => {
    const parser = new IcapParser();
    const blank = latin1('\r\n'.repeat(32 * 1024));
    for (let round = 0; round < 20; round++) {
      expect(parser.feed(blank)).toEqual([]);
      expect(parser.bufferedBytes).toBe(0);
    }
    expect(parser.idle).toBe(true);
  });
});

describe('IcapParser: malformed input', () => {
  const requestWith = (encapsulated: string, tail: string, extra = ''): string =>
    `REQMOD icap://h/s ICAP/1.0\r\nEncapsulated: ${encapsulated}\r\n${extra}\r\n${tail}`;

  it('rejects other ICAP versions with 505 and garbage versions with 400', () => {
    expectParseError('OPTIONS icap://h/s ICAP/2.0\r\n\r\n', 505);
    expectParseError('OPTIONS icap://h/s HTTP/1.1\r\n\r\n', 400);
  });

  it('rejects unknown methods with 501 and malformed request lines with 400', () => {
    expectParseError('PROPFIND icap://h/s ICAP/1.0\r\n\r\n', 501);
    expectParseError('reqmod icap://h/s ICAP/1.0\r\n\r\n', 501);
    expectParseError('REQMOD  icap://h/s ICAP/1.0\r\n\r\n', 400);
    expectParseError('REQMOD icap://h/s\r\n\r\n', 400);
    expectParseError('REQMOD http://h/s ICAP/1.0\r\nEncapsulated: null-body=0\r\n\r\n', 400);
    expectParseError('\x00\x01\x02 x y\r\n\r\n', 400);
  });

  it('rejects malformed ICAP header lines', () => {
    expectParseError('OPTIONS icap://h/s ICAP/1.0\r\nno colon here\r\n\r\n', 400);
    expectParseError('OPTIONS icap://h/s ICAP/1.0\r\nHost: a\r\n folded\r\n\r\n', 400);
    expectParseError('OPTIONS icap://h/s ICAP/1.0\r\nBad Name: a\r\n\r\n', 400);
    expectParseError('OPTIONS icap://h/s ICAP/1.0\r\nHost: a\rb\r\n\r\n', 400);
  });

  it('rejects missing, duplicate and bogus Encapsulated headers', () => {
    expectParseError('REQMOD icap://h/s ICAP/1.0\r\nHost: h\r\n\r\n', 400);
    expectParseError('REQMOD icap://h/s ICAP/1.0\r\nEncapsulated: null-body=0\r\nEncapsulated: null-body=0\r\n\r\n', 400);
    expectParseError(requestWith('req-hdr=0', ''), 400);
    expectParseError(requestWith('req-hdr=0, foo-body=10', ''), 400);
    expectParseError(requestWith('req-hdr=5, null-body=10', ''), 400);
    expectParseError(requestWith('req-hdr=0, null-body=0', ''), 400);
    expectParseError(requestWith('req-hdr=0, null-body=-1', ''), 400);
    expectParseError(requestWith('req-hdr=0, res-hdr=10, null-body=20', ''), 400);
    expectParseError(requestWith('req-hdr=0, res-body=10', ''), 400);
    expectParseError(requestWith('req-body=0, req-hdr=10', ''), 400);
    expectParseError(requestWith('req-hdr=0, null-body=99999999999', ''), 400);
  });

  it('rejects encapsulated heads that do not match their offsets', () => {
    expectParseError(requestWith(`req-hdr=0, null-body=${GET_HEAD.length - 2}`, GET_HEAD), 400);
    expectParseError(requestWith(`req-hdr=0, null-body=${GET_HEAD.length + 2}`, GET_HEAD + 'GE'), 400);
    expectParseError(requestWith('req-hdr=0, null-body=14', 'NOT A REQUEST\r\n\r\n'), 400);
    const response = 'HTTP/1.1 abc OK\r\n\r\n';
    expectParseError(
      `RESPMOD icap://h/s ICAP/1.0\r\nEncapsulated: res-hdr=0, null-body=${response.length}\r\n\r\n${response}`,
      400,
    );
  });

  it('rejects oversized heads with 413', () => {
    const limits = { maxHeaderBytes: 256 };
    expectParseError(`OPTIONS icap://h/s ICAP/1.0\r\nX-Big: ${'a'.repeat(300)}\r\n\r\n`, 413, { limits });
    expectParseError(requestWith('req-hdr=0, null-body=300', ''), 413, { limits });
    expectParseError(requestWith(`req-hdr=0, req-body=${GET_HEAD.length}`, GET_HEAD, 'Preview: 5000\r\n'), 413, {
      limits: { maxBodyBytes: 1000 },
    });
  });

  it('rejects malformed chunked bodies', () => {
    const body = (chunks: string): string => requestWith('req-body=0', chunks);
    expectParseError(body('zz\r\nabc\r\n'), 400);
    expectParseError(body('3\r\nabcX\r\n'), 400);
    expectParseError(body('3\nabc\r\n'), 400);
    expectParseError(body(`${'f'.repeat(17)}\r\n`), 400);
    expectParseError(body(`20000000000000\r\n`), 400);
    expectParseError(body('3;\r\nabc\r\n'), 400);
    expectParseError(body('3; ieof\r\nabc\r\n0\r\n\r\n'), 400);
    expectParseError(body(`${'0'.repeat(5000)}\r\n`), 400);
    expectParseError(body('0\r\nnot a trailer\r\n\r\n'), 400);
  });

  it('rejects a preview longer than announced', () => {
    const request = requestWith(`req-hdr=0, req-body=${POST_HEAD.length}`, `${POST_HEAD}5\r\nhello\r\n0\r\n\r\n`, 'Preview: 4\r\n');
    expectParseError(request, 400);
  });

  it('rejects pushing far more than it can hold unread', () => {
    const parser = new IcapParser({ maxPendingBytes: 1000 });
    parser.feed(latin1(REQMOD_POST_PREVIEW));
    expect(parser.awaitingPreviewDecision).toBe(true);
    expect(() => parser.push(Buffer.alloc(2000))).toThrow(IcapParseError);
    expect(() => parser.read()).toThrow(IcapParseError);
  });
});

describe('ICAP serialisers and header helpers', () => {
  it('computes Encapsulated offsets from the head lengths', () => {
    expect(encapsulatedValue({ httpRequestHeadLength: 120, body: 'req-body' })).toBe('req-hdr=0, req-body=120');
    expect(encapsulatedValue({ httpRequestHeadLength: 120, body: null })).toBe('req-hdr=0, null-body=120');
    expect(encapsulatedValue({ httpResponseHeadLength: 80, body: 'res-body' })).toBe('res-hdr=0, res-body=80');
    expect(encapsulatedValue({ body: 'res-body' })).toBe('res-body=0');
  });

  it('serialises a 200 answer whose offsets point at the right bytes', () => {
    const head = serializeHttpResponseHead({
      version: 'HTTP/1.1',
      status: 403,
      reason: 'Forbidden',
      headers: [{ name: 'Content-Type', value: 'text/plain' }],
    });
    const parts = serializeIcapOk('tag', { httpResponseHead: head, body: 'res-body' });
    const wire = Buffer.concat([...parts, ...encodeChunkedBody(Buffer.from('no'))]).toString('latin1');
    expect(wire).toBe(
      'ICAP/1.0 200 OK\r\nISTag: "tag"\r\nEncapsulated: res-hdr=0, res-body=' +
        head.length +
        '\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\n2\r\nno\r\n0\r\n\r\n',
    );
  });

  it('serialises 204, errors and the OPTIONS answer', () => {
    expect(serializeIcapNoContent('"x1"').toString()).toBe(
      'ICAP/1.0 204 No Content\r\nISTag: "x1"\r\nEncapsulated: null-body=0\r\n\r\n',
    );
    expect(serializeIcapError(400).toString()).toBe(
      'ICAP/1.0 400 Bad Request\r\nConnection: close\r\nEncapsulated: null-body=0\r\n\r\n',
    );
    const options = serializeIcapOptionsResponse(
      {
        methods: ['REQMOD'],
        istag: 'policy-7',
        previewBytes: 4096,
        transferPreview: ['*'],
        transferIgnore: ['jpg', 'png'],
        transferComplete: ['exe'],
        maxConnections: 50,
        optionsTtl: 300,
      },
      { date: new Date(Date.UTC(2024, 0, 1)) },
    );
    expect(options.toString()).toBe(
      'ICAP/1.0 200 OK\r\n' +
        'ISTag: "policy-7"\r\n' +
        'Methods: REQMOD\r\n' +
        'Service: privgate web-proxy\r\n' +
        'Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n' +
        'Max-Connections: 50\r\n' +
        'Options-TTL: 300\r\n' +
        'Allow: 204\r\n' +
        'Preview: 4096\r\n' +
        'Transfer-Preview: *\r\n' +
        'Transfer-Ignore: jpg, png\r\n' +
        'Transfer-Complete: exe\r\n' +
        'Encapsulated: null-body=0\r\n' +
        '\r\n',
    );
  });

  it('quotes and bounds ISTags', () => {
    expect(formatIstag('abc')).toBe('"abc"');
    expect(formatIstag('"abc"')).toBe('"abc"');
    expect(formatIstag('a"b\r\nc')).toBe('"abc"');
    expect(formatIstag('x'.repeat(40))).toBe(`"${'x'.repeat(32)}"`);
  });

  it('refuses to serialise header injection', () => {
    const head = { method: 'GET', target: '/', version: 'HTTP/1.1', headers: [{ name: 'X', value: 'a\r\nEvil: 1' }] };
    expect(() => serializeHttpRequestHead(head)).toThrow(TypeError);
    expect(() => serializeHttpRequestHead({ ...head, headers: [{ name: 'Bad Name', value: 'v' }] })).toThrow(TypeError);
    expect(() => serializeHttpRequestHead({ ...head, headers: [], target: '/a b' })).toThrow(TypeError);
  });

  it('gets, sets and removes headers case-insensitively while keeping original spelling', () => {
    const headers: HttpHeaderField[] = [
      { name: 'Host', value: 'a' },
      { name: 'X-Forwarded-For', value: '1.1.1.1' },
      { name: 'x-forwarded-for', value: '2.2.2.2' },
      { name: 'Cookie', value: 'c' },
    ];
    expect(getHttpHeader(headers, 'HOST')).toBe('a');
    expect(getHttpHeaderValues(headers, 'X-FORWARDED-FOR')).toEqual(['1.1.1.1', '2.2.2.2']);
    setHttpHeader(headers, 'X-FORWARDED-FOR', '3.3.3.3');
    expect(headers).toEqual([
      { name: 'Host', value: 'a' },
      { name: 'X-Forwarded-For', value: '3.3.3.3' },
      { name: 'Cookie', value: 'c' },
    ]);
    setHttpHeader(headers, 'Via', '1.1 privgate');
    expect(headers[3]).toEqual({ name: 'Via', value: '1.1 privgate' });
    expect(removeHttpHeader(headers, 'cookie')).toBe(1);
    expect(removeHttpHeader(headers, 'cookie')).toBe(0);
    expect(headers.map((header) => header.name)).toEqual(['Host', 'X-Forwarded-For', 'Via']);
  });

  it('round-trips an edited request head through the parser', () => {
    const message = messageOf(parseOne(REQMOD_GET));
    const edited = cloneHttpRequestHead(message.httpRequest!);
    setHttpHeader(edited.headers, 'user-agent', 'privgate');
    const head = serializeHttpRequestHead(edited);
    const icap = serializeIcapOk('t', { httpRequestHead: head, body: null });
    const reparsed = new IcapParser().feed(
      Buffer.concat([
        Buffer.from(
          icap[0]!
            .toString('latin1')
            .replace('ICAP/1.0 200 OK', 'REQMOD icap://h/s ICAP/1.0')
            .replace(/ISTag: .*\r\n/, ''),
          'latin1',
        ),
        head,
      ]),
    );
    expect(messageOf(reparsed).httpRequest?.headers[1]).toEqual({ name: 'User-Agent', value: 'privgate' });
    // The parsed original is untouched by edits to the clone.
    expect(message.httpRequest?.headers[1]).toEqual({ name: 'User-Agent', value: 'curl/8.0' });
  });
});
