/**
 * The upload rule (issue 17 item 7): with `web.file_transfer = false`, a request body of ANY type
 * and method larger than the upload limit (default 64 KiB) is blocked; file types and multipart
 * file parts are blocked at any size; bodies of unknown length are counted as they stream and
 * decided as soon as they cross the limit, never buffered further.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveWebProxyConfig, WebProxyConfigError } from '../../src/webproxy/config.js';
import { DEFAULT_MAX_UPLOAD_BYTES } from '../../src/webproxy/content-rules.js';
import { decideRequest, indexPolicy, resolveSession, validateWebPolicy, type RequestFacts, type SessionResolution } from '../../src/webproxy/decision.js';
import { WebProxyHandler } from '../../src/webproxy/handler.js';
import { createIcapServer, type IcapServer } from '../../src/webproxy/icap-server.js';
import type { HttpHeaderField, IcapHandler } from '../../src/webproxy/icap-types.js';
import { WebProxyMetrics } from '../../src/webproxy/metrics.js';
import { PolicyStore } from '../../src/webproxy/policy-store.js';
import { ALL_OFF, ALL_ON, bodyView, multipartBody, NOW, samplePolicy, sessionToken } from './helpers.js';
import type { WebOptions } from '../../src/lib/service-options.js';

/** The production values (web-proxy main.ts / config.ts). */
const MIB = 1024 * 1024;
const RULES = { maxInspectBytes: MIB, maxUploadBytes: DEFAULT_MAX_UPLOAD_BYTES };
const URL_ = 'http://app.example.test:8080/api/import';
const FT_OFF: WebOptions = { ...ALL_OFF, file_transfer: false };

function h(...pairs: Array<[string, string]>): HttpHeaderField[] {
  return pairs.map(([name, value]) => ({ name, value }));
}

async function session(web: WebOptions): Promise<SessionResolution> {
  const resolution = await resolveSession(indexPolicy(validateWebPolicy(samplePolicy({ web }))), await sessionToken(), NOW);
  if (!resolution.ok) throw new Error(resolution.reason);
  return resolution;
}

function request(method: string, headers: HttpHeaderField[], body: ReturnType<typeof bodyView>): RequestFacts {
  return { method, target: URL_, headers, hasBody: true, body };
}

describe('the upload rule (decisions)', () => {
  it('defaults to 64 KiB', () => {
    expect(DEFAULT_MAX_UPLOAD_BYTES).toBe(65536);
  });

  it('blocks a 360 KB text/csv PUT from its Content-Length alone when file transfer is off', async () => {
    const facts = request('PUT', h(['Content-Type', 'text/csv'], ['Content-Length', String(360_000)]), bodyView('unread'));
    expect(decideRequest(await session(FT_OFF), facts, RULES)).toMatchObject({
      kind: 'deny',
      status: 403,
      reason: 'upload_blocked',
      transfer: { direction: 'upload', cause: 'too_large', contentType: 'text/csv', bytes: 360_000 },
    });
  });

  it.each([
    ['POST', 'application/json'],
    ['PATCH', 'application/x-www-form-urlencoded'],
    ['DELETE', 'application/xml'],
    ['POST', 'text/plain; charset=utf-8'],
  ])('blocks a %s of %s just over the limit, and allows one at the limit', async (method, type) => {
    const over = request(method, h(['Content-Type', type], ['Content-Length', String(DEFAULT_MAX_UPLOAD_BYTES + 1)]), bodyView('unread'));
    expect(decideRequest(await session(FT_OFF), over, RULES)).toMatchObject({ kind: 'deny', reason: 'upload_blocked', transfer: { cause: 'too_large' } });
    const at = request(method, h(['Content-Type', type], ['Content-Length', String(DEFAULT_MAX_UPLOAD_BYTES)]), bodyView('unread'));
    const verdict = decideRequest(await session(FT_OFF), at, RULES);
    expect(verdict).toMatchObject({ kind: 'forward' });
    expect(verdict).not.toHaveProperty('transfer');
  });

  it('allows a 10 KB JSON POST when file transfer is off', async () => {
    const body = JSON.stringify({ rows: 'x'.repeat(10_000) });
    const facts = request('POST', h(['Content-Type', 'application/json'], ['Content-Length', String(body.length)]), bodyView('preview', body.slice(0, 1024)));
    const verdict = decideRequest(await session(FT_OFF), facts, RULES);
    expect(verdict).toMatchObject({ kind: 'forward' });
    expect(verdict).not.toHaveProperty('transfer');
  });

  it('allows the 360 KB text/csv PUT when file transfer is on (no audit: under the inspection limit)', async () => {
    const facts = request('PUT', h(['Content-Type', 'text/csv'], ['Content-Length', String(360_000)]), bodyView('unread'));
    const verdict = decideRequest(await session(ALL_ON), facts, RULES);
    expect(verdict).toMatchObject({ kind: 'forward' });
    expect(verdict).not.toHaveProperty('transfer');
  });

  it('counts a chunked body as it streams: asks for at most the limit, blocks once it is crossed', async () => {
    const headers = h(['Content-Type', 'text/csv'], ['Transfer-Encoding', 'chunked']);
    // Squid's preview (1 KiB) shows nothing yet: read on, but no further than the limit (+1 byte).
    expect(decideRequest(await session(FT_OFF), request('PUT', headers, bodyView('preview', 'a,b\n'.repeat(256))), RULES)).toEqual({ kind: 'need-body', maxBytes: DEFAULT_MAX_UPLOAD_BYTES });
    // The connection stopped reading after limit + 1 bytes: truncated, blocked.
    expect(decideRequest(await session(FT_OFF), request('PUT', headers, bodyView('truncated', 'x'.repeat(DEFAULT_MAX_UPLOAD_BYTES))), RULES)).toMatchObject({
      kind: 'deny',
      reason: 'upload_blocked',
      transfer: { cause: 'too_large' },
    });
    // A whole body over the limit (e.g. a larger preview) is blocked too; one under it passes.
    expect(decideRequest(await session(FT_OFF), request('PUT', headers, bodyView('complete', 'x'.repeat(DEFAULT_MAX_UPLOAD_BYTES + 1))), RULES)).toMatchObject({ kind: 'deny' });
    expect(decideRequest(await session(FT_OFF), request('PUT', headers, bodyView('complete', 'x'.repeat(DEFAULT_MAX_UPLOAD_BYTES))), RULES)).toMatchObject({ kind: 'forward' });
    // With file transfer on, the inspection limit applies (for the audit trail only).
    expect(decideRequest(await session(ALL_ON), request('PUT', headers, bodyView('preview', 'a,b\n')), RULES)).toEqual({ kind: 'need-body', maxBytes: MIB });
  });

  it('blocks a multipart form without a file part when it is over the limit, chunked or not', async () => {
    const boundary = 'B0undary';
    const body = multipartBody(boundary, null, 'y'.repeat(DEFAULT_MAX_UPLOAD_BYTES));
    const type: [string, string] = ['Content-Type', `multipart/form-data; boundary=${boundary}`];
    expect(decideRequest(await session(FT_OFF), request('POST', h(type, ['Content-Length', String(body.length)]), bodyView('preview', body.slice(0, 1024))), RULES)).toMatchObject({
      kind: 'deny',
      transfer: { cause: 'too_large' },
    });
    expect(decideRequest(await session(FT_OFF), request('POST', h(type), bodyView('complete', body)), RULES)).toMatchObject({ kind: 'deny', transfer: { cause: 'too_large' } });
    const small = multipartBody(boundary, null, 'hello');
    expect(decideRequest(await session(FT_OFF), request('POST', h(type), bodyView('complete', small)), RULES)).toMatchObject({ kind: 'forward' });
  });

  it('still blocks file types and multipart file parts at any size', async () => {
    expect(decideRequest(await session(FT_OFF), request('PUT', h(['Content-Type', 'application/octet-stream'], ['Content-Length', '3']), bodyView('unread')), RULES)).toMatchObject({
      kind: 'deny',
      transfer: { cause: 'file_type' },
    });
    const body = multipartBody('B', { name: 'tiny.txt', content: 'x' });
    expect(decideRequest(await session(FT_OFF), request('POST', h(['Content-Type', 'multipart/form-data; boundary=B']), bodyView('complete', body)), RULES)).toMatchObject({
      kind: 'deny',
      transfer: { cause: 'multipart_file', filename: 'tiny.txt' },
    });
  });

  it('a limit of 0 blocks every non-empty body', async () => {
    const rules = { ...RULES, maxUploadBytes: 0 };
    expect(decideRequest(await session(FT_OFF), request('POST', h(['Content-Type', 'application/json'], ['Content-Length', '2']), bodyView('unread')), rules)).toMatchObject({ kind: 'deny' });
    expect(decideRequest(await session(FT_OFF), request('POST', h(['Content-Type', 'application/json'], ['Content-Length', '0']), bodyView('complete')), rules)).toMatchObject({ kind: 'forward' });
  });
});

describe('the upload rule in web-proxy-config.toml ([content] max_upload_bytes, a privgate extension)', () => {
  const document = (extra: Record<string, unknown> = {}) => ({
    control_plane: { url: 'https://cp', token_url: 'https://cp/t', policy_url: 'https://cp/p', audit_url: 'https://cp/a' },
    registration: { trusted_client_id: 'tc', register_url: 'https://cp/r' },
    web_proxy_ca: {},
    ...extra,
  });

  it('defaults to 64 KiB and accepts 0 … 1 MiB', () => {
    expect(resolveWebProxyConfig(document(), '/tmp/x.toml').content.maxUploadBytes).toBe(65536);
    expect(resolveWebProxyConfig(document({ content: { max_upload_bytes: 4096 } }), '/tmp/x.toml').content.maxUploadBytes).toBe(4096);
    expect(resolveWebProxyConfig(document({ content: { max_upload_bytes: 0 } }), '/tmp/x.toml').content.maxUploadBytes).toBe(0);
  });

  it.each([[-1], [MIB + 1], ['64k'], [1.5]])('refuses %s, naming the key', async (value) => {
    expect(() => resolveWebProxyConfig(document({ content: { max_upload_bytes: value } }), '/tmp/x.toml')).toThrow(WebProxyConfigError);
    expect(() => resolveWebProxyConfig(document({ content: { max_upload_bytes: value } }), '/tmp/x.toml')).toThrow(/content\.max_upload_bytes/);
  });
});

describe('the upload rule behind the ICAP server: a chunked body is counted as it streams', () => {
  let server: IcapServer;
  let port: number;
  const store = new PolicyStore();
  /** What the handler was shown, call by call. */
  const seen: Array<{ state: string; length: number }> = [];

  beforeAll(async () => {
    store.install(validateWebPolicy(samplePolicy({ web: FT_OFF })), null, NOW, 'feed');
    const handler = new WebProxyHandler({
      reqmodService: 'privgate-reqmod',
      respmodService: 'privgate-respmod',
      store,
      audit: () => undefined,
      metrics: new WebProxyMetrics(),
      logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
      maxInspectBytes: MIB,
      maxConnections: 10,
      now: () => NOW,
    });
    const observed: IcapHandler = {
      options: (service) => handler.options(service),
      modify: (request, body, context) => {
        seen.push({ state: body.state, length: body.length });
        return handler.modify(request, body, context);
      },
      serviceTag: () => handler.serviceTag(),
    };
    server = createIcapServer({ port: 0, handler: observed, maxConnections: 10, limits: { maxBodyBytes: MIB } });
    port = (await server.listen()).port;
  });
  afterAll(() => server.close());

  /** A REQMOD with a 1 KiB preview, then (after 100 Continue) `total` bytes of text/csv in 8 KiB chunks. */
  async function streamUpload(total: number): Promise<string> {
    const head = `PUT ${URL_} HTTP/1.1\r\nHost: app.example.test:8080\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\nX-Privgate-Session: ${await sessionToken()}\r\n\r\n`;
    const preview = 'a,b\n'.repeat(256);
    const icap =
      `REQMOD icap://127.0.0.1:${port}/privgate-reqmod ICAP/1.0\r\nHost: x\r\nAllow: 204\r\nPreview: 1024\r\nEncapsulated: req-hdr=0, req-body=${head.length}\r\n\r\n` +
      `${head}400\r\n${preview}\r\n0\r\n\r\n`;
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(icap));
      let data = '';
      let continued = false;
      socket.on('data', (piece: Buffer) => {
        data += piece.toString('latin1');
        if (!continued && data.startsWith('ICAP/1.0 100')) {
          continued = true;
          data = data.slice(data.indexOf('\r\n\r\n') + 4);
          const chunk = `2000\r\n${'x'.repeat(8192)}\r\n`;
          let sent = preview.length;
          while (sent + 8192 <= total) {
            socket.write(chunk);
            sent += 8192;
          }
          socket.write('0\r\n\r\n');
        }
        if (/^ICAP\/1\.0 (200|204)/.test(data) && (data.includes('\r\n\r\n') && (data.startsWith('ICAP/1.0 204') || data.includes('0\r\n\r\n')))) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.on('error', reject);
    });
  }

  it('blocks a 200 KB chunked text/csv PUT, having held no more than the limit', async () => {
    seen.length = 0;
    const answer = await streamUpload(200 * 1024);
    expect(answer).toContain('HTTP/1.1 403 Forbidden\r\n');
    expect(answer).toContain('X-Privgate-Block: upload_blocked\r\n');
    // First the preview, then a body cut off at the upload limit (the rest was read and dropped).
    expect(seen).toEqual([
      { state: 'preview', length: 1024 },
      { state: 'truncated', length: DEFAULT_MAX_UPLOAD_BYTES },
    ]);
  });

  it('a 4 MiB chunked body is also cut off at the limit, not at the 1 MiB inspection limit', async () => {
    seen.length = 0;
    const answer = await streamUpload(4 * MIB);
    expect(answer).toContain('X-Privgate-Block: upload_blocked\r\n');
    expect(seen[1]).toEqual({ state: 'truncated', length: DEFAULT_MAX_UPLOAD_BYTES });
  });

  it('forwards a 40 KB chunked body (under the limit)', async () => {
    seen.length = 0;
    const answer = await streamUpload(40 * 1024);
    expect(answer).not.toContain('X-Privgate-Block');
    expect(seen[1]).toMatchObject({ state: 'complete' });
  });
});
