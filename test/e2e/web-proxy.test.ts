/**
 * `privgate web-proxy` end to end with real processes: `privgate serve` (SQLite, HTTPS with its
 * self-made CA), Debian's Squid calling the web proxy over ICAP (bypass=off), and a loopback
 * origin. Requests go through Squid like a browser's would (absolute-URI request lines, CONNECT).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importSigningKey, signJwt } from '../../src/lib/jwt.js';
import { createCertificateAuthority, issueServerCertificate } from '../../src/lib/pki/ca.js';
import { DEFAULT_SERVICE_OPTIONS } from '../../src/lib/service-options.js';
import { POLICY_PROPAGATION_MS } from '../../src/services/authorizer/icap-policy.js';
import { freePort, startPrivgate, waitFor, type RunningProcess } from '../helpers/processes.js';
import { startSquid, type RunningSquid } from '../helpers/squid.js';
import { controlPlaneRequest, ensureBuilt, type Answer } from '../helpers/web-stack.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-web-proxy-e2e-'));
// Squid drops to the `proxy` user, which must reach its own directory below this one.
fs.chmodSync(root, 0o711);
const dataDir = path.join(root, 'data');
const proxyDir = path.join(root, 'proxy');
const configFile = path.join(proxyDir, 'web-proxy-config.toml');

let servePort = 0;
let icapPort = 0;
let metricsPort = 0;
let squidPort = 0;
let originPort = 0;
let bumpingSquidPort = 0;
let tlsOriginPort = 0;
let caPem = '';
let adminToken = '';
let hostId = '';
let serve: RunningProcess | null = null;
let webProxy: RunningProcess | null = null;
let squid: RunningSquid | null = null;
let bumpingSquid: RunningSquid | null = null;
let origin: http.Server | null = null;
let tlsOrigin: https.Server | null = null;
/** Tokens of web sessions: all options on (defaults) / all off (principal override). */
let alice = '';
let restricted = '';
const originHits: Array<{ method: string; path: string; headers: http.IncomingHttpHeaders; bytes: number }> = [];

// ---------------------------------------------------------------------------------------------
// helpers

function api(method: string, url: string, body?: unknown, token = adminToken): Promise<Answer> {
  return controlPlaneRequest(servePort, caPem, method, url, body, token);
}

async function apiJson<T>(method: string, url: string, body?: unknown, expected = [200, 201]): Promise<T> {
  const answer = await api(method, url, body);
  if (!expected.includes(answer.status)) throw new Error(`${method} ${url}: ${answer.status} ${answer.body}`);
  return JSON.parse(answer.body) as T;
}

/** One request through Squid, as a browser configured with the proxy sends it. */
function proxied(method: string, url: string, options: { token?: string; bearer?: boolean; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { host: new URL(url).host, ...options.headers };
  if (options.token) {
    if (options.bearer) headers['proxy-authorization'] = `Bearer ${options.token}`;
    else headers['x-privgate-session'] = options.token;
  }
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: squidPort, method, path: url, headers, agent: false }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
    });
    request.setTimeout(15_000, () => request.destroy(new Error('timeout')));
    request.on('error', reject);
    request.end(options.body);
  });
}

/** A CONNECT through Squid; on 200 sends a plain GET through the tunnel (the origin speaks HTTP). */
function connect(authority: string, token?: string): Promise<{ status: number; tunnelled?: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: '127.0.0.1',
      port: squidPort,
      method: 'CONNECT',
      path: authority,
      agent: false,
      headers: { host: authority, ...(token ? { 'proxy-authorization': `Bearer ${token}` } : {}) },
    });
    request.on('connect', (response, socket) => {
      if (response.statusCode !== 200) {
        socket.destroy();
        resolve({ status: response.statusCode ?? 0 });
        return;
      }
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('end', () => resolve({ status: 200, tunnelled: text }));
      socket.on('error', reject);
      socket.write(`GET /page HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
    });
    request.on('error', reject);
    request.end();
  });
}

/**
 * An HTTPS request through the ssl-bumping Squid, as a client that authenticates to the proxy
 * sends it: Proxy-Authorization on the CONNECT only, nothing proxy-related inside the tunnel.
 */
function bumped(authority: string, pathName: string, token: string, bumpCaPem: string): Promise<Answer & { issuer: string }> {
  const [servername] = authority.split(':');
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: '127.0.0.1',
      port: bumpingSquidPort,
      method: 'CONNECT',
      path: authority,
      agent: false,
      headers: { host: authority, 'proxy-authorization': `Bearer ${token}` },
    });
    request.on('connect', (response, socket) => {
      if (response.statusCode !== 200) {
        socket.destroy();
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: '', issuer: '' });
        return;
      }
      const secure = tls.connect({ socket, servername, ca: bumpCaPem }, () => {
        secure.write(`GET ${pathName} HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
      });
      let raw = '';
      secure.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')));
      secure.on('error', reject);
      secure.on('end', () => {
        const [head = '', ...rest] = raw.split('\r\n\r\n');
        const [statusLine = '', ...lines] = head.split('\r\n');
        const headers: http.IncomingHttpHeaders = {};
        for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
        resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n'), issuer: String(secure.getPeerCertificate().issuer?.CN ?? '') });
      });
    });
    request.on('error', reject);
    request.end();
  });
}

function multipart(boundary: string, fileName: string, leadingText = 'hello'): string {
  return (
    `--${boundary}\r\nContent-Disposition: form-data; name="comment"\r\n\r\n${leadingText}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="upload"; filename="${fileName}"\r\nContent-Type: text/plain\r\n\r\nfile content\r\n` +
    `--${boundary}--\r\n`
  );
}

function upload(token: string, fileName: string, leadingText?: string): Promise<Answer> {
  const boundary = 'e2eBoundary42';
  return proxied('POST', `http://app.example.test:${originPort}/upload`, {
    token,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: multipart(boundary, fileName, leadingText),
  });
}

const app = (pathName: string) => `http://app.example.test:${originPort}${pathName}`;

async function openSession(principal: string): Promise<{ session_id: string; token: string }> {
  return apiJson('POST', '/authorizer/api/v1/icap/sessions', { host_id: hostId, principal }, [201]);
}

async function auditEvents(type: string): Promise<Array<{ outcome: string; details: Record<string, unknown>; principal_id?: string; object_id?: string; reporter: string }>> {
  const list = await apiJson<{ items: Array<{ outcome: string; details: Record<string, unknown>; principal_id?: string; object_id?: string; reporter: string }> }>('GET', `/monitor-service/api/v1/auditevents?type=${type}&limit=200`);
  return list.items;
}

async function healthz(): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function startServe(): RunningProcess {
  return startPrivgate(['serve', '--listen', `127.0.0.1:${servePort}`, '--data-dir', dataDir, '--log-level', 'warn'], { PRIVGATE_ADMIN_PASSWORD: 'e2e admin password 1' });
}

function startWebProxy(): RunningProcess {
  return startPrivgate(['web-proxy', '--config', configFile, '--icap-listen', `127.0.0.1:${icapPort}`, '--metrics-listen', `127.0.0.1:${metricsPort}`]);
}

async function waitForServe(): Promise<void> {
  await waitFor(async () => fs.existsSync(path.join(dataDir, 'tls', 'ca.pem')) && (caPem = fs.readFileSync(path.join(dataDir, 'tls', 'ca.pem'), 'utf8')) !== '' && (await api('GET', '/auth/api/v1/status', undefined, '')).status === 200, 20_000, 'privgate serve');
}

// ---------------------------------------------------------------------------------------------
// set-up

beforeAll(async () => {
  const packages = spawnSync(process.execPath, ['scripts/ensure-system-packages.mjs', 'squid-openssl'], { encoding: 'utf8' });
  if (packages.status !== 0) throw new Error(`the web-proxy e2e test needs Squid: ${packages.stderr || packages.stdout}`);
  ensureBuilt();
  [servePort, icapPort, metricsPort, squidPort, originPort, bumpingSquidPort, tlsOriginPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  fs.mkdirSync(proxyDir, { recursive: true });

  const serveOrigin = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    let bytes = 0;
    request.on('data', (chunk: Buffer) => (bytes += chunk.length));
    request.on('end', () => {
      const pathName = (request.url ?? '/').split('?')[0]!;
      originHits.push({ method: request.method ?? '', path: pathName, headers: request.headers, bytes });
      const send = (type: string, body: string, extra: Record<string, string> = {}) => response.writeHead(200, { 'content-type': type, ...extra }).end(body);
      if (pathName === '/page') send('text/html; charset=utf-8', '<html><body><h1>origin page</h1></body></html>');
      else if (pathName === '/attachment') send('text/plain', 'quarterly numbers', { 'content-disposition': 'attachment; filename="report.txt"' });
      else if (pathName === '/doc.pdf') send('application/pdf', '%PDF-1.4 fake');
      else if (pathName === '/sound.mp3') send('audio/mpeg', 'ID3 fake audio');
      else if (pathName === '/upload') send('text/plain', `received ${bytes} bytes`);
      else response.writeHead(404).end();
    });
  };
  origin = http.createServer(serveOrigin);
  await new Promise<void>((resolve) => origin!.listen(originPort, '127.0.0.1', resolve));
  // The same origin over HTTPS, for Squid's ssl-bump (certificate from its own CA).
  const originCa = await createCertificateAuthority({ commonName: 'e2e origin CA', validityDays: 1 });
  const originCertificate = await issueServerCertificate({ ca: originCa, commonName: 'sub.app.example.test', dnsNames: ['sub.app.example.test'], ipAddresses: [], validityDays: 1 });
  tlsOrigin = https.createServer({ key: originCertificate.privateKeyPem, cert: originCertificate.certificatePem }, serveOrigin);
  await new Promise<void>((resolve) => tlsOrigin!.listen(tlsOriginPort, '127.0.0.1', resolve));
  fs.mkdirSync(path.join(root, 'bump'), { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(root, 'bump', 'origin-ca.pem'), originCa.certificatePem, { mode: 0o644 });

  serve = startServe();
  await waitForServe();
  const created = spawnSync(process.execPath, ['dist/cli/index.js', 'api-client', 'create', '--name', 'e2e-admin', '--role', 'privx-admin', '--data-dir', dataDir], { encoding: 'utf8' });
  if (created.status !== 0) throw new Error(`api-client create failed: ${created.stderr}`);
  const client = JSON.parse(created.stdout) as { id: string; secret: string; oauth_client_id: string; oauth_client_secret: string };
  const basic = `Basic ${Buffer.from(`${client.oauth_client_id}:${client.oauth_client_secret}`).toString('base64')}`;
  const token = await api('POST', '/auth/api/v1/oauth/token', new URLSearchParams({ grant_type: 'password', username: client.id, password: client.secret }).toString(), basic);
  adminToken = (JSON.parse(token.body) as { access_token: string }).access_token;

  const trustedClient = await apiJson<{ id: string }>('POST', '/local-user-store/api/v1/trusted-clients', {
    type: 'ICAP',
    name: 'e2e web proxy',
    enabled: true,
    web_proxy_address: '127.0.0.1',
    web_proxy_port: String(squidPort),
  });
  const session = await apiJson<{ session_id: string }>('POST', `/authorizer/api/v1/icap/conf/${trustedClient.id}`);
  const toml = await api('GET', `/authorizer/api/v1/icap/conf/${trustedClient.id}/${session.session_id}`);
  expect(toml.status).toBe(200);
  fs.writeFileSync(configFile, toml.body, { mode: 0o600 });

  const host = await apiJson<{ id: string }>('POST', '/host-store/api/v1/hosts', {
    common_name: 'e2e web app',
    addresses: ['127.0.0.1'],
    services: [{ service: 'WEB', address: 'app.example.test', port: originPort, allowed_domains: ['*.app.example.test'] }],
    principals: [{ principal: 'alice' }, { principal: 'restricted', service_options: { web: { file_transfer: false, audio: false, clipboard: false } } }],
  });
  hostId = host.id;
  alice = (await openSession('alice')).token;
  restricted = (await openSession('restricted')).token;

  webProxy = startWebProxy();
  await waitFor(async () => (await healthz()).status === 200, 20_000, 'the web proxy to load its policy').catch((error: Error) => {
    throw new Error(`${error.message}\n${webProxy?.output()}`);
  });
  squid = await startSquid({
    name: `privgatee2e${process.pid}`,
    directory: path.join(root, 'squid'),
    httpPort: squidPort,
    icapPort,
    reqmodService: 'privgate-reqmod',
    respmodService: 'privgate-respmod',
    localNames: ['app.example.test', 'sub.app.example.test', 'other.example.test'],
  });
}, 80_000);

afterAll(async () => {
  await bumpingSquid?.stop();
  if (process.env.PRIVGATE_E2E_LOGS) process.stdout.write(`--- web-proxy\n${webProxy?.output()}\n--- serve\n${serve?.output()}\n--- squid\n${squid?.cacheLog()}\n`);
  await squid?.stop();
  await Promise.all([webProxy?.stop(), serve?.stop()]);
  for (const server of [origin, tlsOrigin]) {
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server?.closeAllConnections();
    await closed;
  }
  fs.rmSync(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// tests

describe('privgate web-proxy behind Squid', () => {
  it('registered once with the downloaded config, keeping its credentials in a 0700 state directory', () => {
    const state = path.join(proxyDir, 'state');
    expect(fs.statSync(state).mode & 0o777).toBe(0o700);
    for (const name of fs.readdirSync(state)) expect(fs.statSync(path.join(state, name)).mode & 0o777, name).toBe(0o600);
    expect(fs.readdirSync(state)).toEqual(expect.arrayContaining(['credentials.json', 'policy.json', 'web-proxy-key.pem', 'web-proxy-cert.pem']));
    expect(webProxy!.output()).not.toContain(JSON.parse(fs.readFileSync(path.join(state, 'credentials.json'), 'utf8')).client_secret);
  });

  it('privgate web-proxy --help lists its flags', () => {
    const help = spawnSync(process.execPath, ['dist/cli/index.js', 'web-proxy', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const flag of ['Usage: privgate web-proxy', '--config <file>', '--metrics-listen <host:port>', '--icap-listen <host:port>']) expect(help.stdout).toContain(flag);
  });

  it('runs Squid with bypass=off on both ICAP services (an ICAP outage fails closed)', () => {
    const lines = squid!.config.split('\n').filter((line) => line.startsWith('icap_service '));
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/ bypass=off$/);
  });

  it('serves an allowed page and strips the session header before the request goes upstream', async () => {
    const before = originHits.length;
    const page = await proxied('GET', app('/page'), { token: alice });
    expect(page.status).toBe(200);
    expect(page.body).toContain('origin page');
    const viaBearer = await proxied('GET', app('/page'), { token: alice, bearer: true });
    expect(viaBearer.status).toBe(200);
    const hits = originHits.slice(before);
    expect(hits).toHaveLength(2);
    for (const hit of hits) {
      expect(hit.headers['x-privgate-session']).toBeUndefined();
      expect(hit.headers['proxy-authorization']).toBeUndefined();
    }
    // All options on: no page restrictions added.
    expect(page.headers['permissions-policy']).toBeUndefined();
  });

  it('allows the host’s domains (service address, *. wildcard) and blocks others with a 403 page', async () => {
    expect((await proxied('GET', `http://sub.app.example.test:${originPort}/page`, { token: alice })).status).toBe(200);
    const before = originHits.length;
    const blocked = await proxied('GET', `http://other.example.test:${originPort}/page`, { token: alice });
    expect(blocked.status).toBe(403);
    expect(blocked.headers['x-privgate-block']).toBe('domain_not_allowed');
    expect(blocked.body).toContain('This site is not allowed');
    expect(originHits.length).toBe(before);
  });

  it('answers a missing, invalid, expired or revoked session with 407 Proxy-Authenticate: Bearer', async () => {
    const before = originHits.length;
    const missing = await proxied('GET', app('/page'));
    expect(missing.status).toBe(407);
    expect(missing.headers['proxy-authenticate']).toBe('Bearer realm="privgate"');
    expect(missing.headers['x-privgate-block']).toBe('session_missing');

    const invalid = await proxied('GET', app('/page'), { token: `${alice.slice(0, -4)}AAAA` });
    expect(invalid.status).toBe(407);
    expect(invalid.headers['proxy-authenticate']).toContain('error="invalid_token"');

    // A session the control plane signed that ran out a minute ago (signed with its current key).
    const database = new BetterSqlite3(path.join(dataDir, 'privgate.db'), { readonly: true });
    const row = database.prepare('select private_key_pem from signing_keys where retired is null order by created desc limit 1').get() as { private_key_pem: string };
    database.close();
    const payload = JSON.parse(Buffer.from(alice.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    const expired = await signJwt({ ...payload, iat: now - 3600, exp: now - 60 }, await importSigningKey(row.private_key_pem));
    const expiredAnswer = await proxied('GET', app('/page'), { token: expired });
    expect(expiredAnswer.status).toBe(407);
    expect(expiredAnswer.headers['x-privgate-block']).toBe('session_expired');

    const doomed = await openSession('alice');
    expect((await proxied('GET', app('/page'), { token: doomed.token })).status).toBe(200);
    expect((await api('DELETE', `/authorizer/api/v1/icap/sessions/${doomed.session_id}`)).status).toBe(200);
    expect(originHits.length).toBe(before + 1);
    await waitFor(async () => (await proxied('GET', app('/page'), { token: doomed.token })).status === 407, 5000, 'the revocation to reach the proxy');
    const afterRevocation = originHits.length;
    expect((await proxied('GET', app('/page'), { token: doomed.token })).headers['x-privgate-block']).toBe('session_revoked');
    expect(originHits.length).toBe(afterRevocation);

    await waitFor(async () => (await auditEvents('web_request')).some((event) => event.details.reason === 'session_revoked'), 8000, 'the audit event');
  });

  it(`revoking the principal that opened a web session (logout, deletion) blocks the session within ${POLICY_PROPAGATION_MS} ms`, async () => {
    const role = await apiJson<{ id: string }>('POST', '/role-store/api/v1/roles', { name: 'e2e web users', permissions: ['web-access'] });
    /** A new API client in the web-access role, its access token, and a web session it opened. */
    const sessionOfNewPrincipal = async (name: string) => {
      const client = await apiJson<{ id: string; secret: string; oauth_client_id: string; oauth_client_secret: string }>('POST', '/local-user-store/api/v1/api-clients', { name, roles: [{ id: role.id }] });
      const basic = `Basic ${Buffer.from(`${client.oauth_client_id}:${client.oauth_client_secret}`).toString('base64')}`;
      const grant = await api('POST', '/auth/api/v1/oauth/token', new URLSearchParams({ grant_type: 'password', username: client.id, password: client.secret }).toString(), basic);
      const token = (JSON.parse(grant.body) as { access_token: string }).access_token;
      const opened = await api('POST', '/authorizer/api/v1/icap/sessions', { host_id: hostId, principal: 'alice' }, token);
      expect(opened.status, opened.body).toBe(201);
      return { id: client.id, token, session: JSON.parse(opened.body) as { session_id: string; token: string } };
    };
    /** Milliseconds from now until the proxy refuses `sessionToken` (polling through Squid), or Infinity. */
    const msUntilBlocked = async (sessionToken: string): Promise<number> => {
      const start = performance.now();
      while (performance.now() - start < POLICY_PROPAGATION_MS + 4000) {
        const answer = await proxied('GET', app('/page'), { token: sessionToken });
        if (answer.status === 407) {
          expect(answer.headers['x-privgate-block']).toBe('session_revoked');
          return performance.now() - start;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return Number.POSITIVE_INFINITY;
    };
    // Scheduling slack on a busy machine on top of the stated bound.
    const slack = 1000;

    const loggingOut = await sessionOfNewPrincipal('e2e web user logging out');
    const deleted = await sessionOfNewPrincipal('e2e web user deleted');
    for (const principal of [loggingOut, deleted]) expect((await proxied('GET', app('/page'), { token: principal.session.token })).status).toBe(200);

    expect((await api('POST', '/auth/api/v1/logout', undefined, loggingOut.token)).status).toBe(200);
    const afterLogout = await msUntilBlocked(loggingOut.session.token);
    // The other principal's session is untouched.
    expect((await proxied('GET', app('/page'), { token: deleted.session.token })).status).toBe(200);

    expect((await api('DELETE', `/local-user-store/api/v1/api-clients/${deleted.id}`)).status).toBe(200);
    const afterDeletion = await msUntilBlocked(deleted.session.token);
    process.stdout.write(`web session blocked ${Math.round(afterLogout)} ms after logout, ${Math.round(afterDeletion)} ms after deletion\n`);
    expect(afterLogout).toBeLessThanOrEqual(POLICY_PROPAGATION_MS + slack);
    expect(afterDeletion).toBeLessThanOrEqual(POLICY_PROPAGATION_MS + slack);
    // Other sessions keep working.
    expect((await proxied('GET', app('/page'), { token: alice })).status).toBe(200);
  });

  it('file transfer on: uploads and downloads pass and are audited', async () => {
    const uploaded = await upload(alice, 'notes.txt');
    expect(uploaded.status).toBe(200);
    expect(uploaded.body).toMatch(/received \d+ bytes/);
    // A file part beyond Squid's 1024-byte preview: the proxy reads the rest before deciding.
    const late = await upload(alice, 'late.txt', 'x'.repeat(3000));
    expect(late.status).toBe(200);
    expect(late.body).toContain(`received ${multipart('e2eBoundary42', 'late.txt', 'x'.repeat(3000)).length} bytes`);
    const attachment = await proxied('GET', app('/attachment'), { token: alice });
    expect(attachment.status).toBe(200);
    expect(attachment.body).toBe('quarterly numbers');
    expect((await proxied('GET', app('/doc.pdf'), { token: alice })).status).toBe(200);
    await waitFor(
      async () => {
        const events = await auditEvents('web_file_transfer');
        return ['notes.txt', 'late.txt', 'report.txt'].every((name) => events.some((event) => event.outcome === 'allow' && event.details.filename === name));
      },
      8000,
      'file transfer audit events',
    );
    const event = (await auditEvents('web_file_transfer')).find((item) => item.details.filename === 'notes.txt')!;
    expect(event).toMatchObject({ object_id: hostId, details: { direction: 'upload', principal: 'alice', host: 'app.example.test' } });
  });

  it('file transfer off: uploads are blocked in REQMOD, downloads in RESPMOD, each audited as a deny', async () => {
    const before = originHits.filter((hit) => hit.path === '/upload').length;
    const uploaded = await upload(restricted, 'secret.txt');
    expect(uploaded.status).toBe(403);
    expect(uploaded.headers['x-privgate-block']).toBe('upload_blocked');
    const late = await upload(restricted, 'late-secret.txt', 'y'.repeat(3000));
    expect(late.status).toBe(403);
    expect(originHits.filter((hit) => hit.path === '/upload').length).toBe(before);
    const attachment = await proxied('GET', app('/attachment'), { token: restricted });
    expect(attachment.status).toBe(403);
    expect(attachment.headers['x-privgate-block']).toBe('download_blocked');
    expect(attachment.body).not.toContain('quarterly');
    expect((await proxied('GET', app('/doc.pdf'), { token: restricted })).status).toBe(403);
    await waitFor(
      async () => {
        const events = await auditEvents('web_file_transfer');
        return ['secret.txt', 'late-secret.txt', 'report.txt'].every((name) => events.some((event) => event.outcome === 'deny' && event.details.filename === name));
      },
      8000,
      'denied file transfer audit events',
    );
  });

  it('clipboard and audio off: pages get Permissions-Policy and CSP, audio responses are blocked', async () => {
    const page = await proxied('GET', app('/page'), { token: restricted });
    expect(page.status).toBe(200);
    expect(page.body).toContain('origin page');
    expect(page.headers['permissions-policy']).toBe('clipboard-read=(), clipboard-write=(), autoplay=(), microphone=(), speaker-selection=()');
    expect(page.headers['content-security-policy']).toBe("media-src 'none'");
    const sound = await proxied('GET', app('/sound.mp3'), { token: restricted });
    expect(sound.status).toBe(403);
    expect(sound.headers['x-privgate-block']).toBe('audio_blocked');
    const allowedSound = await proxied('GET', app('/sound.mp3'), { token: alice });
    expect(allowedSound.status).toBe(200);
    expect(allowedSound.body).toBe('ID3 fake audio');
  });

  it('checks the CONNECT authority (HTTPS without ssl-bump)', async () => {
    const allowed = await connect(`app.example.test:${originPort}`, alice);
    expect(allowed.status).toBe(200);
    expect(allowed.tunnelled).toContain('origin page');
    expect((await connect(`other.example.test:${originPort}`, alice)).status).toBe(403);
    expect((await connect(`app.example.test:${originPort}`)).status).toBe(407);
  });

  it('with ssl-bump applies the content rules to HTTPS, using the CONNECT’s session for the requests inside the tunnel', async () => {
    const directory = path.join(root, 'bump');
    const bumpCa = await createCertificateAuthority({ commonName: 'e2e bump CA', validityDays: 1 });
    fs.writeFileSync(path.join(directory, 'bump-ca.pem'), bumpCa.certificatePem, { mode: 0o644 });
    fs.writeFileSync(path.join(directory, 'bump-ca.key'), bumpCa.privateKeyPem, { mode: 0o600 });
    bumpingSquid = await startSquid({
      name: `privgatebump${process.pid}`,
      directory: path.join(directory, 'squid'),
      httpPort: bumpingSquidPort,
      icapPort,
      reqmodService: 'privgate-reqmod',
      respmodService: 'privgate-respmod',
      localNames: ['sub.app.example.test', 'other.example.test'],
      sslBump: { caCertificateFile: path.join(directory, 'bump-ca.pem'), caKeyFile: path.join(directory, 'bump-ca.key'), originCaFile: path.join(directory, 'origin-ca.pem') },
    });
    expect(bumpingSquid.config).toContain('ssl_bump bump all');
    const authority = `sub.app.example.test:${tlsOriginPort}`;
    const page = await bumped(authority, '/page', alice, bumpCa.certificatePem);
    expect(page.status).toBe(200);
    expect(page.issuer).toBe('e2e bump CA');
    expect(page.body).toContain('origin page');
    const attachment = await bumped(authority, '/attachment', restricted, bumpCa.certificatePem);
    expect(attachment.status).toBe(403);
    expect(attachment.headers['x-privgate-block']).toBe('download_blocked');
    const restrictedPage = await bumped(authority, '/page', restricted, bumpCa.certificatePem);
    expect(restrictedPage.status).toBe(200);
    expect(restrictedPage.headers['permissions-policy']).toContain('clipboard-read=()');
    expect((await bumped(`other.example.test:${tlsOriginPort}`, '/page', alice, bumpCa.certificatePem)).status).toBe(403);
  });

  it('exposes Prometheus metrics and health on the metrics port', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/privgate_webproxy_icap_requests_total\{method="REQMOD"\} [1-9]\d*/);
    expect(metrics).toMatch(/privgate_webproxy_icap_requests_total\{method="RESPMOD"\} [1-9]\d*/);
    expect(metrics).toMatch(/privgate_webproxy_icap_requests_total\{method="OPTIONS"\} [1-9]\d*/);
    expect(metrics).toMatch(/privgate_webproxy_decisions_total\{kind="deny_upload_blocked",service="reqmod"\} [1-9]\d*/);
    expect(metrics).toMatch(/privgate_webproxy_decisions_total\{kind="deny_download_blocked",service="respmod"\} [1-9]\d*/);
    expect(metrics).toContain('privgate_webproxy_icap_errors_total 0');
    expect(metrics).toContain('privgate_webproxy_audit_queue_dropped_total 0');
    expect(metrics).toMatch(/privgate_webproxy_policy_age_seconds \d+/);
    const health = await healthz();
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', policy_source: 'feed', registration: 'registered' });
    expect(metrics).toContain(`privgate_webproxy_policy_version ${String(health.body.policy_version)}`);
  });

  it('applies a policy change without a restart (default service options)', async () => {
    expect((await proxied('GET', app('/attachment'), { token: alice })).status).toBe(200);
    const off = { ...DEFAULT_SERVICE_OPTIONS, web: { file_transfer: false, audio: true, clipboard: false } };
    expect((await api('PUT', '/settings/api/v1/settings/host-store/default_service_options', off)).status).toBe(200);
    const changed = Date.now();
    await waitFor(async () => (await proxied('GET', app('/attachment'), { token: alice })).status === 403, 5000, 'the new defaults to apply');
    expect(Date.now() - changed).toBeLessThan(5000);
    expect((await proxied('GET', app('/page'), { token: alice })).headers['permissions-policy']).toContain('clipboard-write=()');
    expect((await api('PUT', '/settings/api/v1/settings/host-store/default_service_options', DEFAULT_SERVICE_OPTIONS)).status).toBe(200);
    await waitFor(async () => (await proxied('GET', app('/attachment'), { token: alice })).status === 200, 5000, 'the defaults to be restored');
  });

  it('keeps enforcing the last good policy when the control plane is down, also after a web-proxy restart', async () => {
    await serve!.stop();
    expect((await proxied('GET', app('/page'), { token: alice })).status).toBe(200);
    expect((await proxied('GET', `http://other.example.test:${originPort}/page`, { token: alice })).status).toBe(403);
    expect((await upload(restricted, 'while-down.txt')).status).toBe(403);

    await webProxy!.stop();
    webProxy = startWebProxy();
    await waitFor(async () => (await healthz()).status === 200, 10_000, 'the restarted web proxy');
    expect((await healthz()).body).toMatchObject({ status: 'ok', policy_source: 'state_file', registration: 'registered' });
    await waitFor(async () => (await proxied('GET', app('/page'), { token: alice })).status === 200, 10_000, 'Squid to reach the restarted web proxy');
    expect((await proxied('GET', `http://other.example.test:${originPort}/page`, { token: alice })).status).toBe(403);
    expect((await proxied('GET', app('/attachment'), { token: restricted })).status).toBe(403);
    expect((await proxied('GET', app('/page'))).status).toBe(407);
  });

  it('fails closed when the ICAP service is gone: the client gets an error, never the origin’s content', async () => {
    await webProxy!.stop();
    const before = originHits.length;
    const answer = await proxied('GET', app('/page'), { token: alice });
    expect(answer.status).toBeGreaterThanOrEqual(500);
    expect(answer.body).not.toContain('origin page');
    expect(originHits.length).toBe(before);
  });
});
