import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { WebAuditEvent } from '../../src/webproxy/audit-queue.js';
import { ConnectionSessions, parseClientConnection } from '../../src/webproxy/connection-sessions.js';
import { validateWebPolicy } from '../../src/webproxy/decision.js';
import { WebProxyHandler } from '../../src/webproxy/handler.js';
import { createIcapServer, type IcapServer } from '../../src/webproxy/icap-server.js';
import type { IcapDecision } from '../../src/webproxy/icap-types.js';
import { WebProxyMetrics } from '../../src/webproxy/metrics.js';
import { PolicyStore } from '../../src/webproxy/policy-store.js';
import { ALL_OFF, ALL_ON, HOST_ID, icapChunks, multipartBody, NOW, parseIcap, samplePolicy, SESSION_ID, sessionToken } from './helpers.js';
import type { WebOptions } from '../../src/lib/service-options.js';

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function reqmod(head: string, options: { icapHeaders?: string; body?: string; preview?: boolean } = {}): string {
  const encapsulated = options.body === undefined ? `req-hdr=0, null-body=${head.length}` : `req-hdr=0, req-body=${head.length}`;
  const preview = options.preview && options.body !== undefined ? `Preview: ${Math.min(options.body.length, 1024)}\r\n` : '';
  const body = options.body === undefined ? '' : options.preview ? icapChunks(options.body.slice(0, 1024), options.body.length <= 1024 ? 'ieof' : 'end') : icapChunks(options.body);
  return `REQMOD icap://127.0.0.1:1344/privgate-reqmod ICAP/1.0\r\nHost: 127.0.0.1:1344\r\nAllow: 204\r\nX-Client-IP: 10.1.2.3\r\n${preview}${options.icapHeaders ?? ''}Encapsulated: ${encapsulated}\r\n\r\n${head}${body}`;
}

function respmod(requestHead: string, responseHead: string, icapHeaders = ''): string {
  const resOffset = requestHead.length;
  const bodyOffset = resOffset + responseHead.length;
  return (
    `RESPMOD icap://127.0.0.1:1344/privgate-respmod ICAP/1.0\r\nHost: 127.0.0.1:1344\r\nAllow: 204\r\nPreview: 0\r\nX-Client-IP: 10.1.2.3\r\n${icapHeaders}` +
    `Encapsulated: req-hdr=0, res-hdr=${resOffset}, res-body=${bodyOffset}\r\n\r\n${requestHead}${responseHead}0\r\n\r\n`
  );
}

function get(url: string, extra = ''): string {
  const host = new URL(url).host;
  return `GET ${url} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: test\r\n${extra}\r\n`;
}

describe('WebProxyHandler', () => {
  let store: PolicyStore;
  let metrics: WebProxyMetrics;
  let events: WebAuditEvent[];
  let handler: WebProxyHandler;

  function install(web: WebOptions = ALL_ON, revoked: string[] = []): void {
    store.install(validateWebPolicy(samplePolicy({ web, revoked })), '"7"', NOW, 'feed');
  }

  async function decide(raw: string): Promise<IcapDecision> {
    const { request, body } = parseIcap(raw);
    return await handler.modify(request, body);
  }

  beforeEach(() => {
    store = new PolicyStore();
    metrics = new WebProxyMetrics();
    events = [];
    handler = new WebProxyHandler({
      reqmodService: 'privgate-reqmod',
      respmodService: 'privgate-respmod',
      store,
      audit: (event) => events.push(event),
      metrics,
      logger: silent,
      maxInspectBytes: 4096,
      maxConnections: 50,
      now: () => NOW,
    });
  });

  it('advertises one method per service, the preview sizes, 204 and an ISTag that follows the policy version', () => {
    expect(handler.options('privgate-reqmod')).toEqual({
      methods: ['REQMOD'],
      istag: 'pg-nopolicy',
      serviceDescription: 'privgate web-proxy request policy',
      previewBytes: 1024,
      allow204: true,
      transferPreview: ['*'],
      maxConnections: 50,
      optionsTtl: 60,
    });
    expect(handler.options('privgate-respmod')).toMatchObject({ methods: ['RESPMOD'], previewBytes: 0 });
    expect(handler.options('echo')).toBeNull();
    install();
    expect(handler.serviceTag()).toBe('pg-7');
    expect(handler.options('privgate-respmod')).toMatchObject({ istag: 'pg-7' });
  });

  it('answers 404 for an unknown service and 405 for the wrong method on a service', async () => {
    install();
    expect(await decide(reqmod(get('http://app.example.test:8080/')).replace('/privgate-reqmod', '/other'))).toEqual({ kind: 'icap-error', status: 404 });
    expect(await decide(reqmod(get('http://app.example.test:8080/')).replace('/privgate-reqmod', '/privgate-respmod'))).toEqual({ kind: 'icap-error', status: 405 });
    expect(metrics.icapErrors.get({ cause: 'service' })).toBe(2);
  });

  it('without a policy answers every request with a 503 page (fail closed), audited', async () => {
    const decision = await decide(reqmod(get('http://app.example.test:8080/', `X-Privgate-Session: ${await sessionToken()}\r\n`)));
    expect(decision).toMatchObject({ kind: 'respond', status: 503 });
    expect(events).toMatchObject([{ type: 'web_request', outcome: 'deny', details: { reason: 'no_policy', service: 'reqmod' } }]);
  });

  it('decides synchronously once the session token was verified (the ICAP hot path awaits nothing)', async () => {
    install();
    const raw = reqmod(get('http://app.example.test:8080/'), { icapHeaders: `Proxy-Authorization: Bearer ${await sessionToken()}\r\n` });
    const fresh = parseIcap(raw);
    const first = handler.modify(fresh.request, fresh.body);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toEqual({ kind: 'unmodified' });
    const again = parseIcap(raw);
    expect(handler.modify(again.request, again.body)).toEqual({ kind: 'unmodified' });
    // A decision without a token to verify is synchronous too.
    const anonymous = parseIcap(reqmod(get('http://app.example.test:8080/')));
    expect(handler.modify(anonymous.request, anonymous.body)).toMatchObject({ kind: 'respond', status: 407 });
  });

  it('forwards an allowed request without the session headers', async () => {
    install();
    const token = await sessionToken();
    const decision = await decide(reqmod(get('http://app.example.test:8080/', `X-Privgate-Session: ${token}\r\nProxy-Authorization: Bearer ${token}\r\n`)));
    expect(decision.kind).toBe('modify-headers');
    if (decision.kind !== 'modify-headers') return;
    const names = decision.httpRequestHeaders!.headers.map((header) => header.name);
    expect(names).toEqual(['Host', 'User-Agent']);
    expect(decision.httpRequestHeaders).toMatchObject({ method: 'GET', target: 'http://app.example.test:8080/', version: 'HTTP/1.1' });
    expect(events).toEqual([]);
    expect(metrics.decisions.get({ service: 'reqmod', kind: 'allow_modified' })).toBe(1);
    expect(metrics.icapRequests.get({ method: 'REQMOD' })).toBe(1);
  });

  it('answers unmodified when the token came only in Squid’s ICAP Proxy-Authorization', async () => {
    install();
    expect(await decide(reqmod(get('http://app.example.test:8080/'), { icapHeaders: `Proxy-Authorization: Bearer ${await sessionToken()}\r\n` }))).toEqual({ kind: 'unmodified' });
  });

  it('challenges a request without a session with 407 Proxy-Authenticate: Bearer, audited with the client address', async () => {
    install();
    const decision = await decide(reqmod(get('http://app.example.test:8080/')));
    expect(decision).toMatchObject({ kind: 'respond', status: 407 });
    if (decision.kind !== 'respond') return;
    expect(decision.headers).toContainEqual({ name: 'Proxy-Authenticate', value: 'Bearer realm="privgate"' });
    expect(decision.headers).toContainEqual({ name: 'X-Privgate-Block', value: 'session_missing' });
    expect(String(decision.body)).toContain('Sign-in required');
    expect(events).toEqual([
      {
        type: 'web_request',
        outcome: 'deny',
        at: NOW.toISOString(),
        source_address: '10.1.2.3',
        details: expect.objectContaining({ reason: 'session_missing', url: 'http://app.example.test:8080/', host: 'app.example.test', method: 'GET' }),
      },
    ]);
  });

  it('answers an expired or revoked session with 407 error="invalid_token", naming the session in the audit event', async () => {
    install(ALL_ON, [SESSION_ID]);
    const decision = await decide(reqmod(get('http://app.example.test:8080/', `X-Privgate-Session: ${await sessionToken()}\r\n`)));
    expect(decision).toMatchObject({ kind: 'respond', status: 407 });
    if (decision.kind !== 'respond') return;
    expect(decision.headers).toContainEqual({ name: 'Proxy-Authenticate', value: 'Bearer realm="privgate", error="invalid_token"' });
    expect(events[0]).toMatchObject({
      outcome: 'deny',
      principal_id: 'user-1',
      principal_name: 'Alice Example',
      object_type: 'host',
      object_id: HOST_ID,
      details: { reason: 'session_revoked', web_session_id: SESSION_ID, principal: 'alice' },
    });
  });

  it('blocks a domain outside the session with a 403 page that escapes the address', async () => {
    install();
    const decision = await decide(reqmod(get('http://other.example.test/<script>', `X-Privgate-Session: ${await sessionToken()}\r\n`)));
    expect(decision).toMatchObject({ kind: 'respond', status: 403 });
    if (decision.kind !== 'respond') return;
    expect(String(decision.body)).not.toContain('<script>');
    expect(String(decision.body)).toContain('This site is not allowed');
    expect(events[0]).toMatchObject({ type: 'web_request', outcome: 'deny', details: { reason: 'domain_not_allowed', host: 'other.example.test', host_name: 'web app' } });
  });

  it('blocks a file upload with file transfer off and audits it as a web_file_transfer', async () => {
    install(ALL_OFF);
    const boundary = 'b0undary';
    const body = multipartBody(boundary, { name: 'secret.txt', content: 'data' });
    const head = `POST http://app.example.test:8080/upload HTTP/1.1\r\nHost: app.example.test:8080\r\nX-Privgate-Session: ${await sessionToken()}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`;
    expect(await decide(reqmod(head, { body, preview: true }))).toMatchObject({ kind: 'respond', status: 403 });
    expect(events).toMatchObject([{ type: 'web_file_transfer', outcome: 'deny', details: { reason: 'upload_blocked', direction: 'upload', filename: 'secret.txt', cause: 'multipart_file' } }]);
    // The whole body came in the preview (ieof): still counted as one REQMOD.
    expect(metrics.icapRequests.get({ method: 'REQMOD' })).toBe(1);
  });

  it('asks for the rest of a multipart body the preview did not settle, then decides on the whole body', async () => {
    install();
    const boundary = 'b0undary';
    const body = multipartBody(boundary, { name: 'late.txt', content: 'data' }, 'x'.repeat(2000));
    const head = `POST http://app.example.test:8080/upload HTTP/1.1\r\nHost: app.example.test:8080\r\nX-Privgate-Session: ${await sessionToken()}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { request, body: preview } = parseIcap(reqmod(head, { body, preview: true }));
    expect(preview.state).toBe('preview');
    expect(await handler.modify(request, preview)).toEqual({ kind: 'need-body', maxBytes: 4096 });
    const whole = Buffer.from(body, 'latin1');
    const decision = await handler.modify(request, { state: 'complete', chunks: [whole], length: whole.length, bytes: () => whole }) as IcapDecision;
    expect(decision.kind).toBe('modify-headers');
    expect(events).toMatchObject([{ type: 'web_file_transfer', outcome: 'allow', details: { direction: 'upload', filename: 'late.txt', bytes: body.length } }]);
    expect(metrics.icapRequests.get({ method: 'REQMOD' })).toBe(1);
  });

  it('in RESPMOD takes the session from Squid’s adaptation_meta header and refuses responses without one', async () => {
    install(ALL_ON);
    const requestHead = get('http://app.example.test:8080/');
    const page = 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 10\r\n\r\n';
    expect(await decide(respmod(requestHead, page, `X-Privgate-Session: ${await sessionToken()}\r\n`))).toEqual({ kind: 'unmodified' });
    expect(await decide(respmod(requestHead, page, `X-Privgate-Session: -\r\nX-Privgate-Proxy-Authorization: Bearer%20${await sessionToken()}\r\n`))).toEqual({ kind: 'unmodified' });
    expect(await decide(respmod(requestHead, page, 'X-Privgate-Session: -\r\n'))).toMatchObject({ kind: 'respond', status: 403 });
    expect(events.at(-1)).toMatchObject({ details: { reason: 'session_missing', service: 'respmod' } });
  });

  it('in RESPMOD adds the page restrictions and keeps the status line', async () => {
    install(ALL_OFF);
    const decision = await decide(respmod(get('http://app.example.test:8080/'), 'HTTP/1.1 201 Made\r\nContent-Type: text/html\r\n\r\n', `X-Privgate-Session: ${await sessionToken()}\r\n`));
    expect(decision.kind).toBe('modify-headers');
    if (decision.kind !== 'modify-headers') return;
    expect(decision.httpResponseHeaders).toMatchObject({ version: 'HTTP/1.1', status: 201, reason: 'Made' });
    expect(decision.httpResponseHeaders!.headers).toContainEqual({ name: 'Content-Security-Policy', value: "media-src 'none'" });
  });

  it('in RESPMOD blocks a download with file transfer off and audits an allowed one', async () => {
    const attachment = 'HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="r.pdf"\r\nContent-Length: 99\r\n\r\n';
    install(ALL_OFF);
    expect(await decide(respmod(get('http://app.example.test:8080/r.pdf'), attachment, `X-Privgate-Session: ${await sessionToken()}\r\n`))).toMatchObject({ kind: 'respond', status: 403 });
    install(ALL_ON);
    expect(await decide(respmod(get('http://app.example.test:8080/r.pdf'), attachment, `X-Privgate-Session: ${await sessionToken()}\r\n`))).toEqual({ kind: 'unmodified' });
    expect(events).toMatchObject([
      { type: 'web_file_transfer', outcome: 'deny', details: { reason: 'download_blocked', filename: 'r.pdf', bytes: 99, direction: 'download' } },
      { type: 'web_file_transfer', outcome: 'allow', details: { filename: 'r.pdf', direction: 'download', url: 'http://app.example.test:8080/r.pdf' } },
    ]);
  });

  it('a policy change applies to the next request without restart', async () => {
    install(ALL_ON);
    const audio = 'HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n';
    const raw = respmod(get('http://app.example.test:8080/a.mp3'), audio, `X-Privgate-Session: ${await sessionToken()}\r\n`);
    expect(await decide(raw)).toEqual({ kind: 'unmodified' });
    store.install(validateWebPolicy(samplePolicy({ web: { file_transfer: true, audio: false, clipboard: true }, version: 8 })), '"8"', NOW, 'feed');
    expect(await decide(raw)).toMatchObject({ kind: 'respond', status: 403 });
  });
});

describe('WebProxyHandler behind the ICAP server', () => {
  let server: IcapServer;
  let port: number;
  const store = new PolicyStore();

  beforeAll(async () => {
    const handler = new WebProxyHandler({
      reqmodService: 'privgate-reqmod',
      respmodService: 'privgate-respmod',
      store,
      audit: () => undefined,
      metrics: new WebProxyMetrics(),
      logger: silent,
      maxInspectBytes: 4096,
      maxConnections: 50,
      now: () => NOW,
    });
    server = createIcapServer({ port: 0, handler, maxConnections: 50 });
    port = (await server.listen()).port;
  });
  afterAll(() => server.close());

  function exchange(raw: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.end(raw));
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
  }

  it('serialises OPTIONS with the headers Squid needs', async () => {
    const answer = await exchange(`OPTIONS icap://127.0.0.1:${port}/privgate-reqmod ICAP/1.0\r\nHost: x\r\n\r\n`);
    expect(answer).toMatch(/^ICAP\/1\.0 200 OK\r\n/);
    for (const line of ['Methods: REQMOD', 'ISTag: "pg-nopolicy"', 'Preview: 1024', 'Allow: 204', 'Transfer-Preview: *', 'Max-Connections: 50', 'Options-TTL: 60']) {
      expect(answer).toContain(`${line}\r\n`);
    }
    store.install(validateWebPolicy(samplePolicy({ version: 42 })), null, NOW, 'feed');
    const later = await exchange(`OPTIONS icap://127.0.0.1:${port}/privgate-respmod ICAP/1.0\r\nHost: x\r\n\r\n`);
    expect(later).toContain('ISTag: "pg-42"\r\n');
    expect(later).toContain('Methods: RESPMOD\r\n');
    expect(later).toContain('Preview: 0\r\n');
  });

  it('answers a blocked request with an encapsulated HTTP 403 page', async () => {
    store.install(validateWebPolicy(samplePolicy()), null, NOW, 'feed');
    const answer = await exchange(reqmod(get('http://other.example.test/', `X-Privgate-Session: ${await sessionToken()}\r\n`)));
    expect(answer).toMatch(/^ICAP\/1\.0 200 OK\r\n/);
    expect(answer).toContain('ISTag: "pg-7"');
    expect(answer).toMatch(/Encapsulated: res-hdr=0, res-body=\d+/);
    expect(answer).toContain('HTTP/1.1 403 Forbidden\r\n');
    expect(answer).toContain('X-Privgate-Block: domain_not_allowed\r\n');
  });
});

describe('sessions of bumped HTTPS connections (ssl-bump)', () => {
  const connectHead = 'CONNECT app.example.test:8080 HTTP/1.1\r\nHost: app.example.test:8080\r\n\r\n';
  const meta = (port: number, sni = '-') => `X-Privgate-Client-Connection: 10.1.2.3 ${port} ${sni}\r\n`;

  function makeHandler(): { handler: WebProxyHandler; store: PolicyStore; connections: ConnectionSessions } {
    const store = new PolicyStore();
    store.install(validateWebPolicy(samplePolicy({ web: ALL_OFF })), null, NOW, 'feed');
    const connections = new ConnectionSessions();
    const handler = new WebProxyHandler({
      reqmodService: 'privgate-reqmod',
      respmodService: 'privgate-respmod',
      store,
      audit: () => undefined,
      metrics: new WebProxyMetrics(),
      logger: silent,
      maxInspectBytes: 4096,
      maxConnections: 50,
      now: () => NOW,
      connections,
    });
    return { handler, store, connections };
  }

  async function decideWith(handler: WebProxyHandler, raw: string): Promise<IcapDecision> {
    const { request, body } = parseIcap(raw);
    return await handler.modify(request, body);
  }

  it('uses the CONNECT’s Proxy-Authorization for the bumped requests of the same connection and authority', async () => {
    const { handler, connections } = makeHandler();
    expect(await decideWith(handler, reqmod(connectHead, { icapHeaders: `Proxy-Authorization: Bearer ${await sessionToken()}\r\n${meta(5000)}` }))).toEqual({ kind: 'unmodified' });
    expect(connections.size).toBe(1);
    const inner = get('https://app.example.test:8080/page');
    expect(await decideWith(handler, reqmod(inner, { icapHeaders: meta(5000, 'app.example.test') }))).toEqual({ kind: 'unmodified' });
    // RESPMOD of the bumped request: file transfer is off for this principal.
    const pdf = 'HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n\r\n';
    expect(await decideWith(handler, respmod(inner, pdf, meta(5000, 'app.example.test')))).toMatchObject({ kind: 'respond', status: 403 });
    // Another authority through the same tunnel, a plain (not bumped) request, another connection: no session.
    expect(await decideWith(handler, reqmod(get('https://docs.example.test/'), { icapHeaders: meta(5000, 'docs.example.test') }))).toMatchObject({ kind: 'respond', status: 407 });
    expect(await decideWith(handler, reqmod(inner, { icapHeaders: meta(5000, '-') }))).toMatchObject({ kind: 'respond', status: 407 });
    expect(await decideWith(handler, reqmod(inner, { icapHeaders: meta(5001, 'app.example.test') }))).toMatchObject({ kind: 'respond', status: 407 });
  });

  it('a later CONNECT from the same address and port without a session clears the binding', async () => {
    const { handler, connections } = makeHandler();
    await decideWith(handler, reqmod(connectHead, { icapHeaders: `Proxy-Authorization: Bearer ${await sessionToken()}\r\n${meta(5000)}` }));
    expect(await decideWith(handler, reqmod(connectHead, { icapHeaders: meta(5000) }))).toMatchObject({ kind: 'respond', status: 407 });
    expect(connections.size).toBe(0);
    expect(await decideWith(handler, reqmod(get('https://app.example.test:8080/page'), { icapHeaders: meta(5000, 'app.example.test') }))).toMatchObject({ kind: 'respond', status: 407 });
  });

  it('a refused CONNECT (domain not allowed) binds nothing', async () => {
    const { handler, connections } = makeHandler();
    const other = 'CONNECT other.example.test:443 HTTP/1.1\r\nHost: other.example.test:443\r\n\r\n';
    expect(await decideWith(handler, reqmod(other, { icapHeaders: `Proxy-Authorization: Bearer ${await sessionToken()}\r\n${meta(5000)}` }))).toMatchObject({ kind: 'respond', status: 403 });
    expect(connections.size).toBe(0);
  });
});

describe('ConnectionSessions', () => {
  const target = (host: string, port: number) => ({ scheme: 'https', host, port, display: '' });

  it('parses Squid’s connection meta header', () => {
    expect(parseClientConnection([{ name: 'X-Privgate-Client-Connection', value: '10.0.0.1 51234 app.example.test' }])).toEqual({ key: '10.0.0.1 51234', bumped: true });
    expect(parseClientConnection([{ name: 'x-privgate-client-connection', value: '::1 51234 -' }])).toEqual({ key: '::1 51234', bumped: false });
    expect(parseClientConnection([{ name: 'X-Privgate-Client-Connection', value: '- - -' }])).toBeNull();
    expect(parseClientConnection([])).toBeNull();
  });

  it('expires bindings with the token or after the maximum age, and stays within its capacity', () => {
    const sessions = new ConnectionSessions(2, 1000);
    const connection = (port: number) => ({ key: `10.0.0.1 ${port}`, bumped: true });
    sessions.bind(connection(1), 'a', target('h', 443), 10_000, 0);
    expect(sessions.lookup(connection(1), target('h', 443), 999)).toBe('a');
    expect(sessions.lookup(connection(1), target('h', 443), 1000)).toBeNull();
    sessions.bind(connection(2), 'b', target('h', 443), 500, 0);
    expect(sessions.lookup(connection(2), target('h', 443), 500)).toBeNull();
    sessions.bind(connection(3), 'c', target('h', 443), 10_000, 0);
    sessions.bind(connection(4), 'd', target('h', 443), 10_000, 0);
    sessions.bind(connection(5), 'e', target('h', 443), 10_000, 0);
    expect(sessions.size).toBe(2);
    expect(sessions.lookup(connection(3), target('h', 443), 1)).toBeNull();
    expect(sessions.lookup(connection(5), target('h', 443), 1)).toBe('e');
    expect(sessions.lookup(connection(5), target('h', 8443), 1)).toBeNull();
    expect(sessions.lookup(null, target('h', 443), 1)).toBeNull();
  });
});
