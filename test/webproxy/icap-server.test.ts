import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cloneHttpResponseHead, getHttpHeader, setHttpHeader } from '../../src/webproxy/icap-headers.js';
import { createIcapServer } from '../../src/webproxy/icap-server.js';
import type { IcapServer, IcapServerOptions } from '../../src/webproxy/icap-server.js';
import type {
  IcapBody,
  IcapDecision,
  IcapHandler,
  IcapLogger,
  IcapRequest,
  IcapRequestContext,
} from '../../src/webproxy/icap-types.js';

/** One ICAP answer as read off the wire. */
interface IcapAnswer {
  status: number;
  reason: string;
  headers: Map<string, string>;
  /** The encapsulated HTTP head blocks, concatenated. */
  httpHeads: string;
  /** The de-chunked body, when the answer carries one. */
  body: string | null;
  raw: string;
}

/** A minimal ICAP client: writes raw bytes and reads whole answers, the way Squid's ModXact would. */
class IcapTestClient {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (data: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, data]);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static connect(port: number): Promise<IcapTestClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new IcapTestClient(socket)));
      socket.once('error', reject);
    });
  }

  private notify(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  send(text: string | Buffer): void {
    this.socket.write(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  }

  async read(): Promise<IcapAnswer> {
    for (;;) {
      const answer = this.tryParse();
      if (answer) return answer;
      if (this.ended) throw new Error(`connection ended; unread: ${JSON.stringify(this.buffer.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  /** Waits for the server to close the connection. */
  async waitForEnd(): Promise<void> {
    while (!this.ended) {
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private tryParse(): IcapAnswer | null {
    const text = this.buffer.toString('latin1');
    const headEnd = text.indexOf('\r\n\r\n');
    if (headEnd < 0) return null;
    const lines = text.slice(0, headEnd).split('\r\n');
    const match = /^ICAP\/1\.0 (\d{3}) (.*)$/.exec(lines[0]!);
    if (!match) throw new Error(`bad status line ${lines[0]}`);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    let position = headEnd + 4;
    let httpHeads = '';
    let body: string | null = null;
    const encapsulated = headers.get('encapsulated');
    if (encapsulated) {
      const sections = encapsulated.split(',').map((item) => {
        const [name, offset] = item.trim().split('=');
        return { name: name!, offset: Number(offset) };
      });
      const last = sections[sections.length - 1]!;
      if (text.length < position + last.offset) return null;
      httpHeads = text.slice(position, position + last.offset);
      position += last.offset;
      if (last.name !== 'null-body') {
        body = '';
        for (;;) {
          const lineEnd = text.indexOf('\r\n', position);
          if (lineEnd < 0) return null;
          const size = Number.parseInt(text.slice(position, lineEnd), 16);
          if (size === 0) {
            if (text.length < lineEnd + 4) return null;
            position = lineEnd + 4;
            break;
          }
          if (text.length < lineEnd + 2 + size + 2) return null;
          body += text.slice(lineEnd + 2, lineEnd + 2 + size);
          position = lineEnd + 2 + size + 2;
        }
      }
    }
    this.buffer = this.buffer.subarray(position);
    return { status: Number(match[1]), reason: match[2]!, headers, httpHeads, body, raw: text.slice(0, position) };
  }
}

const GET_HEAD = 'GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.0\r\n\r\n';
const BLOCKED_HEAD = 'GET http://blocked.example/ HTTP/1.1\r\nHost: blocked.example\r\n\r\n';
const POST_HEAD = 'POST http://example.com/upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 26\r\n\r\n';
const RESPONSE_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Origin: yes\r\n\r\n';

function reqmodGet(port: number, head = GET_HEAD, extra = 'Allow: 204\r\n'): string {
  return (
    `REQMOD icap://127.0.0.1:${port}/reqmod ICAP/1.0\r\nHost: 127.0.0.1:${port}\r\n` +
    `Encapsulated: req-hdr=0, null-body=${head.length}\r\n${extra}\r\n${head}`
  );
}

function reqmodPost(port: number, extra: string, chunks: string): string {
  return (
    `REQMOD icap://127.0.0.1:${port}/reqmod ICAP/1.0\r\nHost: 127.0.0.1:${port}\r\n` +
    `Encapsulated: req-hdr=0, req-body=${POST_HEAD.length}\r\n${extra}\r\n${POST_HEAD}${chunks}`
  );
}

function respmod(port: number, chunks: string, extra = 'Allow: 204\r\n'): string {
  return (
    `RESPMOD icap://127.0.0.1:${port}/respmod ICAP/1.0\r\nHost: 127.0.0.1:${port}\r\n` +
    `Encapsulated: req-hdr=0, res-hdr=${GET_HEAD.length}, res-body=${GET_HEAD.length + RESPONSE_HEAD.length}\r\n` +
    `${extra}\r\n${GET_HEAD}${RESPONSE_HEAD}${chunks}`
  );
}

/** What the test handler saw, so tests can assert on the handler's view. */
interface Call {
  service: string;
  method: string;
  bodyState: IcapBody['state'];
  body: string;
}

describe('ICAP server over TCP', () => {
  let server: IcapServer;
  let port: number;
  let calls: Call[];
  let decide: (request: IcapRequest, body: IcapBody, context: IcapRequestContext) => IcapDecision | Promise<IcapDecision>;
  /** Error-level log messages; a test that provokes failures on purpose clears them. */
  let errors: string[];
  const clients: IcapTestClient[] = [];
  const logger: IcapLogger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: (details, message) => errors.push(`${message}: ${String((details as { err?: unknown }).err)}`),
  };

  const handler: IcapHandler = {
    options(service) {
      if (service === 'reqmod' || service === 'respmod') {
        return {
          methods: [service === 'reqmod' ? 'REQMOD' : 'RESPMOD'],
          istag: 'policy-1',
          previewBytes: 4,
          transferPreview: ['*'],
          transferIgnore: ['jpg', 'gif'],
          transferComplete: ['exe'],
          optionsTtl: 600,
        };
      }
      return null;
    },
    async modify(request, body, context) {
      calls.push({ service: request.service, method: request.method, bodyState: body.state, body: body.bytes().toString() });
      return decide(request, body, context);
    },
    serviceTag: () => 'policy-1',
  };

  async function start(overrides: Partial<IcapServerOptions> = {}): Promise<void> {
    server = createIcapServer({ host: '127.0.0.1', port: 0, handler, idleTimeoutMs: 5_000, logger, ...overrides });
    ({ port } = await server.listen());
  }

  async function client(): Promise<IcapTestClient> {
    const created = await IcapTestClient.connect(port);
    clients.push(created);
    return created;
  }

  beforeEach(async () => {
    calls = [];
    errors = [];
    decide = () => ({ kind: 'unmodified' });
    await start();
  });

  afterEach(async () => {
    for (const created of clients.splice(0)) created.close();
    await server.close();
    expect(errors).toEqual([]);
  });

  it('answers OPTIONS with the service description', async () => {
    const icap = await client();
    icap.send(`OPTIONS icap://127.0.0.1:${port}/reqmod ICAP/1.0\r\nHost: 127.0.0.1:${port}\r\nAllow: 206\r\n\r\n`);
    const answer = await icap.read();
    expect(answer.status).toBe(200);
    expect(Object.fromEntries(answer.headers)).toMatchObject({
      methods: 'REQMOD',
      service: 'privgate web-proxy',
      istag: '"policy-1"',
      preview: '4',
      allow: '204',
      'transfer-preview': '*',
      'transfer-ignore': 'jpg, gif',
      'transfer-complete': 'exe',
      'max-connections': '100',
      'options-ttl': '600',
      encapsulated: 'null-body=0',
    });
    expect(answer.headers.get('date')).toMatch(/GMT$/);

    icap.send(`OPTIONS icap://127.0.0.1:${port}/nope ICAP/1.0\r\nHost: x\r\n\r\n`);
    const missing = await icap.read();
    expect(missing.status).toBe(404);
    // An unknown service is not a protocol error: the connection stays usable.
    icap.send(`OPTIONS icap://127.0.0.1:${port}/respmod ICAP/1.0\r\nHost: x\r\n\r\n`);
    expect((await icap.read()).headers.get('methods')).toBe('RESPMOD');
  });

  it('answers 204 to an unmodified REQMOD when the client sent Allow: 204', async () => {
    const icap = await client();
    icap.send(reqmodGet(port));
    const answer = await icap.read();
    expect(answer.raw).toBe('ICAP/1.0 204 No Content\r\nISTag: "policy-1"\r\nEncapsulated: null-body=0\r\n\r\n');
    expect(calls).toEqual([{ service: 'reqmod', method: 'REQMOD', bodyState: 'absent', body: '' }]);
  });

  it('echoes the original request byte for byte without Allow: 204', async () => {
    const icap = await client();
    icap.send(reqmodGet(port, GET_HEAD, ''));
    const answer = await icap.read();
    expect(answer.status).toBe(200);
    expect(answer.headers.get('encapsulated')).toBe(`req-hdr=0, null-body=${GET_HEAD.length}`);
    expect(answer.httpHeads).toBe(GET_HEAD);

    // With a body and no preview, the body streams back unchanged.
    icap.send(reqmodPost(port, '', '10\r\nabcdefghijklmnop\r\na\r\nqrstuvwxyz\r\n0\r\n\r\n'));
    const echoed = await icap.read();
    expect(echoed.headers.get('encapsulated')).toBe(`req-hdr=0, req-body=${POST_HEAD.length}`);
    expect(echoed.httpHeads).toBe(POST_HEAD);
    expect(echoed.body).toBe('abcdefghijklmnopqrstuvwxyz');
    expect(calls[1]?.bodyState).toBe('unread');
  });

  it('sends 100 Continue when the handler wants more than the preview, then decides on the whole body', async () => {
    decide = (_request, body) => {
      if (body.state === 'preview') return { kind: 'need-body' };
      return body.bytes().includes('secret')
        ? { kind: 'respond', status: 403, headers: { 'Content-Type': 'text/plain' }, body: 'upload blocked' }
        : { kind: 'unmodified' };
    };
    const icap = await client();
    icap.send(reqmodPost(port, 'Preview: 4\r\nAllow: 204\r\n', '4\r\nabcd\r\n0\r\n\r\n'));
    const interim = await icap.read();
    expect(interim.raw).toBe('ICAP/1.0 100 Continue\r\n\r\n');
    icap.send('a\r\nefg secret\r\n0\r\n\r\n');
    const final = await icap.read();
    expect(final.status).toBe(200);
    expect(final.headers.get('encapsulated')).toMatch(/^res-hdr=0, res-body=\d+$/);
    expect(final.httpHeads).toMatch(/^HTTP\/1\.1 403 Forbidden\r\nContent-Type: text\/plain\r\nContent-Length: 14\r\n\r\n$/);
    expect(final.body).toBe('upload blocked');
    // A clean upload after the whole body was read: outside the preview now, so 204 needs Allow: 204.
    icap.send(reqmodPost(port, 'Preview: 4\r\nAllow: 204\r\n', '4\r\nabcd\r\n0\r\n\r\n'));
    expect((await icap.read()).status).toBe(100);
    icap.send('3\r\nefg\r\n0\r\n\r\n');
    expect((await icap.read()).raw).toBe('ICAP/1.0 204 No Content\r\nISTag: "policy-1"\r\nEncapsulated: null-body=0\r\n\r\n');
    // Without Allow: 204 the whole body comes back instead.
    icap.send(reqmodPost(port, 'Preview: 4\r\n', '4\r\nabcd\r\n0\r\n\r\n'));
    expect((await icap.read()).status).toBe(100);
    icap.send('3\r\nefg\r\n0\r\n\r\n');
    const echoed = await icap.read();
    expect(echoed.status).toBe(200);
    expect(echoed.httpHeads).toBe(POST_HEAD);
    expect(echoed.body).toBe('abcdefg');
    expect(calls.map((call) => [call.bodyState, call.body])).toEqual([
      ['preview', 'abcd'],
      ['complete', 'abcdefg secret'],
      ['preview', 'abcd'],
      ['complete', 'abcdefg'],
      ['preview', 'abcd'],
      ['complete', 'abcdefg'],
    ]);
  });

  it('reads the rest of an upload before answering from the headers alone, then serves the next message', async () => {
    decide = (request) =>
      request.httpRequest?.method === 'POST'
        ? { kind: 'respond', status: 403, headers: {}, body: 'no uploads' }
        : { kind: 'unmodified' };
    const icap = await client();
    icap.send(reqmodPost(port, 'Allow: 204\r\n', '5\r\nabcde\r\n'));
    const early = icap.read();
    await new Promise((resolve) => setTimeout(resolve, 30));
    icap.send('5\r\nfghij\r\n0\r\n\r\n' + reqmodGet(port));
    const blocked = await early;
    expect(blocked.status).toBe(200);
    expect(blocked.body).toBe('no uploads');
    expect((await icap.read()).status).toBe(204);
  });

  it('streams a large body back unchanged', async () => {
    const piece = Buffer.alloc(60_000);
    for (let index = 0; index < piece.length; index++) piece[index] = index % 251;
    const rounds = 40;
    const icap = await client();
    icap.send(respmod(port, '', ''));
    for (let round = 0; round < rounds; round++) {
      icap.send(`${piece.length.toString(16)}\r\n`);
      icap.send(piece);
      icap.send('\r\n');
    }
    icap.send('0\r\n\r\n');
    const answer = await icap.read();
    expect(answer.status).toBe(200);
    expect(answer.httpHeads).toBe(RESPONSE_HEAD);
    expect(answer.body?.length).toBe(piece.length * rounds);
    expect(Buffer.from(answer.body!.slice(0, piece.length), 'latin1').equals(piece)).toBe(true);
    expect(Buffer.from(answer.body!.slice(-piece.length), 'latin1').equals(piece)).toBe(true);
  });

  it('aborts the handler signal when the ICAP connection goes away', async () => {
    let aborted: Promise<void> | undefined;
    decide = (_request, _body, context) =>
      new Promise<IcapDecision>((_resolve, reject) => {
        aborted = new Promise((resolve) =>
          context.signal.addEventListener('abort', () => {
            resolve();
            reject(new Error('look-up abandoned'));
          }),
        );
      });
    const icap = await client();
    icap.send(reqmodGet(port));
    while (aborted === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    icap.close();
    await aborted;
  });

  it('answers a preview directly with 204 and carries on with the next message', async () => {
    const icap = await client();
    // No Allow: 204 needed inside a preview.
    icap.send(reqmodPost(port, 'Preview: 4\r\n', '4\r\nabcd\r\n0\r\n\r\n'));
    expect((await icap.read()).status).toBe(204);
    icap.send(reqmodPost(port, 'Preview: 4\r\n', '3\r\nabc\r\n0; ieof\r\n\r\n'));
    expect((await icap.read()).status).toBe(204);
    expect(calls.map((call) => [call.bodyState, call.body])).toEqual([
      ['preview', 'abcd'],
      ['complete', 'abc'],
    ]);
  });

  it('tells the handler when a body exceeds the buffering limit and still forwards all of it', async () => {
    await server.close();
    await start({ limits: { maxBodyBytes: 8 } });
    decide = (_request, body) => (body.state === 'unread' ? { kind: 'need-body' } : { kind: 'unmodified' });
    const icap = await client();
    icap.send(reqmodPost(port, '', '6\r\nabcdef\r\n6\r\nghijkl\r\n6\r\nmnopqr\r\n0\r\n\r\n'));
    const answer = await icap.read();
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('abcdefghijklmnopqr');
    expect(calls.map((call) => [call.bodyState, call.body])).toEqual([
      ['unread', ''],
      ['truncated', 'abcdefgh'],
    ]);
  });

  it('modifies RESPMOD response headers and passes the body through', async () => {
    decide = (request) => {
      const head = cloneHttpResponseHead(request.httpResponse!);
      setHttpHeader(head.headers, 'x-origin', 'scanned');
      head.headers.push({ name: 'Via', value: 'ICAP/1.0 privgate' });
      return { kind: 'modify-headers', httpResponseHeaders: head };
    };
    const icap = await client();
    icap.send(respmod(port, '5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n'));
    const answer = await icap.read();
    expect(answer.status).toBe(200);
    const expectedHead = 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Origin: scanned\r\nVia: ICAP/1.0 privgate\r\n\r\n';
    expect(answer.headers.get('encapsulated')).toBe(`res-hdr=0, res-body=${expectedHead.length}`);
    expect(answer.httpHeads).toBe(expectedHead);
    expect(answer.body).toBe('hello, world');
  });

  it('modifies headers after a preview: 100 Continue, then the new head and the whole body', async () => {
    decide = (request) => {
      const head = cloneHttpResponseHead(request.httpResponse!);
      head.headers.push({ name: 'X-Checked', value: '1' });
      return { kind: 'modify-headers', httpResponseHeaders: head };
    };
    const icap = await client();
    icap.send(respmod(port, '4\r\nhell\r\n0\r\n\r\n', 'Preview: 4\r\n'));
    expect((await icap.read()).status).toBe(100);
    icap.send('8\r\no, world\r\n0\r\n\r\n');
    const answer = await icap.read();
    expect(answer.httpHeads).toContain('X-Checked: 1\r\n');
    expect(answer.body).toBe('hello, world');
  });

  it('replaces a blocked request with a block page', async () => {
    decide = (request) =>
      request.httpRequest?.target.includes('blocked')
        ? {
            kind: 'respond',
            status: 403,
            headers: [
              { name: 'Content-Type', value: 'text/html; charset=utf-8' },
              { name: 'Cache-Control', value: 'no-store' },
            ],
            body: '<h1>Blocked by privgate</h1>',
          }
        : { kind: 'unmodified' };
    const icap = await client();
    icap.send(reqmodGet(port, BLOCKED_HEAD));
    const answer = await icap.read();
    const page = '<h1>Blocked by privgate</h1>';
    const head =
      'HTTP/1.1 403 Forbidden\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n' +
      `Content-Length: ${page.length}\r\n\r\n`;
    expect(answer.raw).toBe(
      `ICAP/1.0 200 OK\r\nISTag: "policy-1"\r\nEncapsulated: res-hdr=0, res-body=${head.length}\r\n\r\n` +
        `${head}${page.length.toString(16)}\r\n${page}\r\n0\r\n\r\n`,
    );
  });

  it('serves three pipelined requests on one persistent connection, in order', async () => {
    decide = (request) =>
      request.httpRequest?.target.includes('blocked')
        ? { kind: 'respond', status: 407, headers: { 'Proxy-Authenticate': 'Basic realm="privgate"' } }
        : { kind: 'unmodified' };
    const icap = await client();
    icap.send(reqmodGet(port) + reqmodGet(port, BLOCKED_HEAD) + reqmodGet(port, GET_HEAD, ''));
    const first = await icap.read();
    const second = await icap.read();
    const third = await icap.read();
    expect([first.status, second.status, third.status]).toEqual([204, 200, 200]);
    expect(second.httpHeads).toMatch(/^HTTP\/1\.1 407 Proxy Authentication Required\r\n/);
    expect(second.headers.get('encapsulated')).toMatch(/^res-hdr=0, null-body=\d+$/);
    expect(third.httpHeads).toBe(GET_HEAD);
    expect(icap.ended).toBe(false);
    expect(server.connectionCount).toBe(1);
  });

  it('answers a malformed request with 400 and closes the connection', async () => {
    const icap = await client();
    icap.send('REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, bogus=12\r\n\r\n');
    const answer = await icap.read();
    expect(answer.status).toBe(400);
    expect(answer.headers.get('connection')).toBe('close');
    await icap.waitForEnd();
    await icap.closed;
  });

  it('answers 505 to another ICAP version', async () => {
    const icap = await client();
    icap.send('OPTIONS icap://127.0.0.1/reqmod ICAP/2.0\r\n\r\n');
    expect((await icap.read()).status).toBe(505);
    await icap.waitForEnd();
  });

  it('answers 500 and closes when the handler throws, without harming other connections', async () => {
    decide = (request) => {
      if (request.httpRequest?.target.includes('blocked')) throw new Error('policy exploded');
      return { kind: 'unmodified' };
    };
    const healthy = await client();
    const broken = await client();
    broken.send(reqmodGet(port, BLOCKED_HEAD));
    const answer = await broken.read();
    expect(answer.status).toBe(500);
    await broken.waitForEnd();
    healthy.send(reqmodGet(port));
    expect((await healthy.read()).status).toBe(204);
    expect(errors).toEqual([expect.stringContaining('ICAP handler failed')]);
    errors = [];
  });

  it('answers 500 when the handler returns an unusable decision', async () => {
    decide = () => ({ kind: 'modify-headers' });
    const icap = await client();
    icap.send(reqmodGet(port));
    expect((await icap.read()).status).toBe(500);
    await icap.waitForEnd();
    expect(errors).toHaveLength(1);
    errors = [];
  });

  it('refuses connections beyond the limit with 503', async () => {
    await server.close();
    await start({ maxConnections: 1 });
    const first = await client();
    first.send(reqmodGet(port));
    expect((await first.read()).status).toBe(204);
    const second = await client();
    const refused = await second.read();
    expect(refused.status).toBe(503);
    await second.waitForEnd();
    // The admitted connection is unaffected.
    first.send(reqmodGet(port));
    expect((await first.read()).status).toBe(204);
  });

  it('closes idle connections after the idle timeout', async () => {
    await server.close();
    await start({ idleTimeoutMs: 100 });
    const icap = await client();
    icap.send(reqmodGet(port));
    expect((await icap.read()).status).toBe(204);
    await icap.waitForEnd();
  });

  it('lets close() finish an in-flight message before closing', async () => {
    let release: () => void = () => undefined;
    decide = () => new Promise((resolve) => (release = () => resolve({ kind: 'unmodified' })));
    const icap = await client();
    icap.send(reqmodGet(port));
    while (calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const closing = server.close();
    release();
    expect((await icap.read()).status).toBe(204);
    await icap.waitForEnd();
    await closing;
    expect(server.connectionCount).toBe(0);
    await start();
  });

  it('passes the ICAP headers Squid adds through to the handler', async () => {
    let seen: string | undefined;
    decide = (request) => {
      seen = getHttpHeader(request.headers, 'x-client-ip');
      return { kind: 'unmodified' };
    };
    const icap = await client();
    icap.send(reqmodGet(port, GET_HEAD, 'Allow: 204\r\nX-Client-IP: 192.0.2.7\r\n'));
    expect((await icap.read()).status).toBe(204);
    expect(seen).toBe('192.0.2.7');
  });
});
