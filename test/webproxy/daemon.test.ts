/**
 * The web-proxy daemon against a fake control plane over HTTPS (its own CA): registration,
 * tokens, the policy feed with long-poll, persistence, audit shipping, health and metrics.
 * The real control plane and Squid are in test/e2e/web-proxy.test.ts.
 */
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueServerCertificate } from '../../src/lib/pki/ca.js';
import type { CertificateAuthority } from '../../src/lib/pki/common.js';
import type { WebPolicy } from '../../src/lib/web-policy.js';
import { renderWebProxyConfig, webProxyConfig } from '../../src/services/authorizer/web-proxy-config.js';
import type { WebAuditEvent } from '../../src/webproxy/audit-queue.js';
import { resolveWebProxyConfig } from '../../src/webproxy/config.js';
import { startWebProxy, type WebProxyDaemon } from '../../src/webproxy/main.js';
import { parse } from 'smol-toml';
import { ALL_OFF, samplePolicy, sessionToken } from './helpers.js';
import { waitFor } from '../helpers/processes.js';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-wp-daemon-'));
const daemons: WebProxyDaemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((daemon) => daemon.stop()));
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** Just enough of the control plane to drive a web proxy. */
class FakeControlPlane {
  policy: WebPolicy = samplePolicy();
  registrations = 0;
  refuseRegistration = false;
  tokenTtlSeconds = 300;
  grants: string[] = [];
  audit: WebAuditEvent[] = [];
  private validTokens = new Set<string>();
  private refreshTokens = new Set<string>();
  private counter = 0;
  private server!: https.Server;
  port = 0;

  constructor(private readonly ca: CertificateAuthority) {}

  async start(port = 0): Promise<void> {
    const certificate = await issueServerCertificate({ ca: this.ca, commonName: 'cp', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 });
    this.server = https.createServer({ key: certificate.privateKeyPem, cert: certificate.certificatePem }, (request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => void this.route(request, response, body));
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** As when the control plane revokes the principal's tokens: access and refresh tokens stop working. */
  revokeAllTokens(): void {
    this.validTokens.clear();
    this.refreshTokens.clear();
  }

  private issue(): { access_token: string; token_type: string; expires_in: number; refresh_token: string } {
    const access = `at-${++this.counter}`;
    const refresh = `rt-${this.counter}`;
    this.validTokens.add(access);
    this.refreshTokens.add(refresh);
    return { access_token: access, token_type: 'Bearer', expires_in: this.tokenTtlSeconds, refresh_token: refresh };
  }

  private authorized(request: IncomingMessage): boolean {
    const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
    return match !== null && this.validTokens.has(match[1]!);
  }

  private async route(request: IncomingMessage, response: ServerResponse, body: string): Promise<void> {
    const url = new URL(request.url ?? '/', 'https://x');
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) =>
      response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
    if (request.method === 'POST' && url.pathname === '/authorizer/api/v1/icap/register') {
      const input = JSON.parse(body) as { trusted_client_id: string; secret: string; csr: string };
      if (this.refuseRegistration || input.secret !== 'one-time' || !input.csr.includes('BEGIN CERTIFICATE REQUEST')) {
        json(403, { error_code: 'PERMISSION_DENIED', error_message: 'web proxy registration refused' });
        return;
      }
      this.registrations++;
      json(200, {
        trusted_client_id: input.trusted_client_id,
        oauth_client_id: 'oauth-id',
        oauth_client_secret: 'oauth-secret',
        client_secret: 'client-secret',
        certificate: '-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n',
        ca_certificate: this.ca.certificatePem,
      });
      return;
    }
    if (request.method === 'POST' && url.pathname === '/auth/api/v1/oauth/token') {
      const form = new URLSearchParams(body);
      const grant = form.get('grant_type') ?? '';
      this.grants.push(grant);
      if (grant === 'password') {
        const basic = Buffer.from((request.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
        if (basic !== 'oauth-id:oauth-secret' || form.get('username') !== 'tc-1' || form.get('password') !== 'client-secret') {
          json(401, { error_code: 'INVALID_CLIENT', error_message: 'invalid client credentials' });
          return;
        }
        json(200, this.issue());
        return;
      }
      if (grant === 'refresh_token' && this.refreshTokens.delete(form.get('refresh_token') ?? '')) {
        json(200, this.issue());
        return;
      }
      json(400, { error_code: 'INVALID_GRANT', error_message: 'no' });
      return;
    }
    if (!this.authorized(request)) {
      json(401, { error_code: 'UNAUTHORIZED', error_message: 'token' });
      return;
    }
    if (request.method === 'GET' && url.pathname === '/authorizer/api/v1/icap/policy') {
      const deadline = Date.now() + Number(url.searchParams.get('wait') ?? 0) * 1000;
      while (request.headers['if-none-match'] === `"${this.policy.version}"` && Date.now() < deadline && !response.destroyed) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (request.headers['if-none-match'] === `"${this.policy.version}"`) {
        response.writeHead(304, { etag: `"${this.policy.version}"` }).end();
        return;
      }
      json(200, this.policy, { etag: `"${this.policy.version}"` });
      return;
    }
    if (request.method === 'POST' && url.pathname === '/monitor-service/api/v1/auditevents/batch') {
      const events = (JSON.parse(body) as { events: WebAuditEvent[] }).events;
      this.audit.push(...events);
      json(200, { count: events.length });
      return;
    }
    json(404, { error_code: 'OBJECT_NOT_FOUND', error_message: 'nope' });
  }
}

function writeConfig(name: string, controlPlanePort: number, caPem: string, tweak: (document: Record<string, unknown>) => void = () => undefined): string {
  const directory = path.join(scratch, name);
  fs.mkdirSync(directory, { recursive: true });
  const document = webProxyConfig({
    publicUrl: `https://127.0.0.1:${controlPlanePort}`,
    controlPlaneCaPem: caPem,
    trustedClientId: 'tc-1',
    registrationSecret: 'one-time',
    registrationSecretExpires: new Date(Date.now() + 3600_000).toISOString(),
    webProxyCa: { id: 'ca-1', certificatePem: caPem },
    webProxyAddress: '',
    webProxyPort: '',
  }) as unknown as Record<string, unknown>;
  (document.policy as Record<string, unknown>).long_poll_seconds = 2;
  tweak(document);
  const file = path.join(directory, 'web-proxy-config.toml');
  fs.writeFileSync(file, renderWebProxyConfig(document as never));
  return file;
}

async function start(configFile: string): Promise<WebProxyDaemon> {
  const config = resolveWebProxyConfig(parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>, configFile, {
    icapListen: '127.0.0.1:0',
    metricsListen: '127.0.0.1:0',
  });
  const daemon = await startWebProxy(config, { logger: pino({ level: 'silent' }) });
  daemons.push(daemon);
  return daemon;
}

async function health(daemon: WebProxyDaemon): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${daemon.metricsAddress.port}/healthz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** One REQMOD over TCP; answers the encapsulated HTTP status line (or "204"). */
function reqmod(daemon: WebProxyDaemon, head: string): Promise<string> {
  const raw = `REQMOD icap://127.0.0.1/privgate-reqmod ICAP/1.0\r\nHost: x\r\nAllow: 204\r\nEncapsulated: req-hdr=0, null-body=${head.length}\r\n\r\n${head}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect(daemon.icapAddress.port, '127.0.0.1', () => socket.end(raw));
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('end', () => {
      if (data.startsWith('ICAP/1.0 204')) resolve('204');
      else if (/Encapsulated: req-hdr=0/.test(data)) resolve('forwarded');
      else resolve(/HTTP\/1\.1 \d{3}[^\r]*/.exec(data)?.[0] ?? data.split('\r\n')[0]!);
    });
    socket.on('error', reject);
  });
}

const validGet = async (token?: string): Promise<string> =>
  `GET http://app.example.test:8080/ HTTP/1.1\r\nHost: app.example.test:8080\r\nX-Privgate-Session: ${token ?? (await sessionToken({ exp: Math.floor(Date.now() / 1000) + 600, iat: Math.floor(Date.now() / 1000) }))}\r\n\r\n`;

describe('web-proxy daemon against a control plane', () => {
  let ca: CertificateAuthority;
  let controlPlane: FakeControlPlane;
  let configFile: string;

  beforeAll(async () => {
    ca = await createCertificateAuthority({ commonName: 'test control plane CA', validityDays: 1 });
    controlPlane = new FakeControlPlane(ca);
    await controlPlane.start();
    configFile = writeConfig('main', controlPlane.port, ca.certificatePem);
  });

  it('registers once, enforces the feed, follows policy changes by long-poll, ships audit events and reports health and metrics', async () => {
    const daemon = await start(configFile);
    await waitFor(async () => (await health(daemon)).status === 200, 10_000, 'a policy');
    expect(controlPlane.registrations).toBe(1);
    expect(daemon.registration()).toBe('registered');
    const stateDirectory = path.join(path.dirname(configFile), 'state');
    await waitFor(async () => fs.existsSync(path.join(stateDirectory, 'policy.json')), 5000, 'the persisted policy');
    expect(fs.statSync(stateDirectory).mode & 0o777).toBe(0o700);
    const files = fs.readdirSync(stateDirectory).sort();
    expect(files).toEqual(['credentials.json', 'policy.json', 'web-proxy-ca.pem', 'web-proxy-cert.pem', 'web-proxy-key.pem']);
    for (const file of files) expect(fs.statSync(path.join(stateDirectory, file)).mode & 0o777, file).toBe(0o600);
    expect(fs.readFileSync(path.join(stateDirectory, 'web-proxy-key.pem'), 'utf8')).toContain('PRIVATE KEY');
    const healthy = await health(daemon);
    expect(healthy.body).toMatchObject({ status: 'ok', policy_version: 7, policy_source: 'feed', registration: 'registered' });
    expect(healthy.body.policy_age_seconds).toBeLessThan(5);

    expect(await reqmod(daemon, await validGet())).toBe('forwarded');
    expect(await reqmod(daemon, 'GET http://app.example.test:8080/ HTTP/1.1\r\nHost: app.example.test:8080\r\n\r\n')).toBe('HTTP/1.1 407 Proxy Authentication Required');
    await waitFor(async () => controlPlane.audit.length === 1, 8000, 'the audit event');
    expect(controlPlane.audit[0]).toMatchObject({ type: 'web_request', outcome: 'deny', details: { reason: 'session_missing' } });

    controlPlane.policy = samplePolicy({ version: 8, web: ALL_OFF, allowedDomains: [] });
    const changed = Date.now();
    await waitFor(async () => daemon.store.index?.version === 8, 5000, 'the new policy');
    expect(Date.now() - changed).toBeLessThan(2000);
    await waitFor(async () => fs.readFileSync(path.join(stateDirectory, 'policy.json'), 'utf8').includes('"etag":"\\"8\\""'), 5000, 'version 8 on disk');
    const persisted = JSON.parse(fs.readFileSync(path.join(stateDirectory, 'policy.json'), 'utf8')) as { etag: string; policy: WebPolicy };
    expect(persisted).toMatchObject({ etag: '"8"', policy: { version: 8 } });

    const metrics = await (await fetch(`http://127.0.0.1:${daemon.metricsAddress.port}/metrics`)).text();
    expect(metrics).toContain('privgate_webproxy_icap_requests_total{method="REQMOD"} 2');
    expect(metrics).toContain('privgate_webproxy_decisions_total{kind="deny_session_missing",service="reqmod"} 1');
    expect(metrics).toContain('privgate_webproxy_policy_version 8');
    expect(metrics).toContain('privgate_webproxy_audit_queue_dropped_total 0');
    expect(metrics).toContain('privgate_webproxy_icap_errors_total 0');
    expect(metrics).toMatch(/privgate_webproxy_policy_age_seconds \d/);
    expect((await fetch(`http://127.0.0.1:${daemon.metricsAddress.port}/other`)).status).toBe(404);
    await daemon.stop();
  });

  it('restarted with its state while the control plane is down: no new registration, the persisted policy is enforced', async () => {
    await controlPlane.stop();
    try {
      const daemon = await start(configFile);
      const healthy = await health(daemon);
      expect(healthy.status).toBe(200);
      expect(healthy.body).toMatchObject({ status: 'ok', policy_version: 8, policy_source: 'state_file', registration: 'registered' });
      // Version 8 allows only the service address on its port: the GET passes, another domain does not.
      expect(await reqmod(daemon, await validGet())).toBe('forwarded');
      expect(await reqmod(daemon, (await validGet()).replace(/app\.example\.test:8080/g, 'docs.example.test'))).toBe('HTTP/1.1 403 Forbidden');
      expect(controlPlane.registrations).toBe(1);
      await waitFor(async () => ((await health(daemon)).body.control_plane as { last_error: unknown }).last_error !== null, 5000, 'a control-plane error');
      await daemon.stop();
      // The denial could not be reported: it waits in the state directory for the next start.
      const pending = path.join(path.dirname(configFile), 'state', 'audit-pending.json');
      expect(fs.statSync(pending).mode & 0o777).toBe(0o600);
      expect(JSON.parse(fs.readFileSync(pending, 'utf8'))).toMatchObject([{ outcome: 'deny', details: { reason: 'domain_not_allowed' } }]);
    } finally {
      await controlPlane.start(controlPlane.port);
    }
  });

  it('delivers audit events kept from the last run, re-authenticates after a 401 and refreshes tokens before they expire', async () => {
    controlPlane.tokenTtlSeconds = 2;
    controlPlane.grants = [];
    const daemon = await start(configFile);
    await waitFor(async () => controlPlane.audit.some((event) => event.details.reason === 'domain_not_allowed'), 8000, 'the audit event kept from the last run');
    expect(fs.existsSync(path.join(path.dirname(configFile), 'state', 'audit-pending.json'))).toBe(false);
    await waitFor(async () => controlPlane.grants.includes('refresh_token'), 8000, 'a refresh');
    controlPlane.tokenTtlSeconds = 300;
    const passwordGrants = controlPlane.grants.filter((grant) => grant === 'password').length;
    controlPlane.revokeAllTokens();
    await waitFor(async () => controlPlane.grants.filter((grant) => grant === 'password').length > passwordGrants, 8000, 'a new password grant');
    controlPlane.policy = samplePolicy({ version: 9 });
    await waitFor(async () => daemon.store.index?.version === 9, 8000, 'the policy after re-authentication');
    await daemon.stop();
  });

  it('with no policy and no control plane denies everything (fail closed) and reports 503', async () => {
    const closedPort = (await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(port));
      });
    }));
    const daemon = await start(writeConfig('nothing', closedPort, ca.certificatePem));
    const unhealthy = await health(daemon);
    expect(unhealthy.status).toBe(503);
    expect(unhealthy.body).toMatchObject({ status: 'no_policy', policy_version: null, registration: 'pending' });
    expect(await reqmod(daemon, await validGet())).toBe('HTTP/1.1 503 Service Unavailable');
    await daemon.stop();
  });

  it('stops trying when registration is refused', async () => {
    controlPlane.refuseRegistration = true;
    const daemon = await start(writeConfig('refused', controlPlane.port, ca.certificatePem));
    await waitFor(async () => daemon.registration() === 'refused', 5000, 'the refusal');
    expect((await health(daemon)).status).toBe(503);
    controlPlane.refuseRegistration = false;
    await daemon.stop();
  });

  it('trusts only the CA from the config file for the control plane’s HTTPS', async () => {
    const otherCa = await createCertificateAuthority({ commonName: 'some other CA', validityDays: 1 });
    const daemon = await start(writeConfig('wrong-ca', controlPlane.port, otherCa.certificatePem));
    await waitFor(async () => ((await health(daemon)).body.control_plane as { last_error: string | null }).last_error !== null, 5000, 'a TLS failure');
    const body = (await health(daemon)).body;
    expect(body.registration).toBe('pending');
    expect((body.control_plane as { last_error: string }).last_error).toMatch(/register: .*(certificate|self-signed|issuer)/i);
    await daemon.stop();
  });
});
