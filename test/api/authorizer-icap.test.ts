import { X509Certificate } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import * as x509 from '@peculiar/x509';
import { parse } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateSigningRequest } from '../../src/lib/pki/csr.js';
import { normalizeSerialHex } from '../../src/lib/pki/serial-numbers.js';
import { ManualClock } from '../../src/lib/time.js';
import { renderWebProxyConfig, webProxyConfig, type WebProxyConfigFile } from '../../src/services/authorizer/web-proxy-config.js';
import { bearer, createTestApp, envelope, passwordGrantRequest, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const AUTHORIZER = '/authorizer/api/v1';
const CLIENTS = '/local-user-store/api/v1/trusted-clients';

/** What a web proxy keeps after registering. */
interface Registered {
  trusted_client_id: string;
  oauth_client_id: string;
  oauth_client_secret: string;
  client_secret: string;
  certificate: string;
  ca_certificate: string;
}

function fixtures(get: () => TestApp) {
  let counter = 0;
  const inject = (options: InjectOptions) => get().app.inject(options);
  return {
    async createClient(token: string, body: Record<string, unknown> = {}): Promise<string> {
      counter += 1;
      const response = await inject({ method: 'POST', url: CLIENTS, headers: bearer(token), payload: { type: 'ICAP', name: `proxy-${counter}-${Date.now()}`, enabled: true, ...body } });
      expect(response.statusCode, response.body).toBe(201);
      return (response.json() as { id: string }).id;
    },
    async openSession(token: string, clientId: string): Promise<string> {
      const response = await inject({ method: 'POST', url: `${AUTHORIZER}/icap/conf/${clientId}`, headers: bearer(token) });
      expect(response.statusCode, response.body).toBe(201);
      return (response.json() as { session_id: string }).session_id;
    },
    download(token: string, clientId: string, sessionId: string, kind: 'icap' | 'carrier' = 'icap') {
      return inject({ method: 'GET', url: `${AUTHORIZER}/${kind}/conf/${clientId}/${encodeURIComponent(sessionId)}`, headers: bearer(token) });
    },
    async config(token: string, clientId: string): Promise<WebProxyConfigFile> {
      const sessionId = await this.openSession(token, clientId);
      const response = await this.download(token, clientId, sessionId);
      expect(response.statusCode, response.body).toBe(200);
      return parse(response.body) as unknown as WebProxyConfigFile;
    },
    async register(config: WebProxyConfigFile, options: { remoteAddress?: string; secret?: string } = {}) {
      const { csrPem } = await createCertificateSigningRequest({ commonName: 'my-web-proxy' });
      return inject({
        method: 'POST',
        url: `${AUTHORIZER}/icap/register`,
        ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}),
        payload: { trusted_client_id: config.registration.trusted_client_id, secret: options.secret ?? config.registration.secret, csr: csrPem },
      });
    },
    async proxyToken(registered: Registered) {
      return inject(
        passwordGrantRequest({ id: registered.trusted_client_id, secret: registered.client_secret, oauth_client_id: registered.oauth_client_id, oauth_client_secret: registered.oauth_client_secret }),
      );
    },
  };
}

async function crlSerials(testApp: TestApp, token: string, caId: string): Promise<string[]> {
  const response = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas/${caId}/crl`, headers: bearer(token) });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toBe('application/pkix-crl');
  const crl = new x509.X509Crl(response.rawPayload);
  return crl.entries.map((entry) => normalizeSerialHex(entry.serialNumber));
}

describe.each(testBackends())('web-proxy config sessions and registration on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  let manager: string;
  let hostsManager: string;
  const f = fixtures(() => testApp);

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
    manager = (await tokenWith(testApp, ['api-clients-manage'])).token;
    hostsManager = (await tokenWith(testApp, ['hosts-manage'])).token;
  });
  afterAll(async () => testApp?.close());
  const db = () => testApp.app.context.database.db;

  it('POST icap/conf → 201 {session_id} with an unguessable id stored only hashed', async () => {
    const clientId = await f.createClient(manager);
    const response = await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/conf/${clientId}`, headers: bearer(admin) });
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(Object.keys(body)).toEqual(['session_id']);
    expect(body.session_id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = await db().selectFrom('icap_conf_sessions').selectAll().where('trusted_client_id', '=', clientId).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.id_hash).not.toContain(body.session_id);
    expect(JSON.stringify(rows)).not.toContain(body.session_id);
  });

  it('GET icap/conf/{tc}/{session} → 200 TOML attachment with everything a proxy needs, no CA key', async () => {
    const clientId = await f.createClient(manager, { web_proxy_address: '10.0.0.7', web_proxy_port: '3128' });
    const sessionId = await f.openSession(manager, clientId);
    const response = await f.download(manager, clientId, sessionId);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/toml/);
    expect(response.headers['content-disposition']).toBe(`attachment; filename=web-proxy-${clientId}-config.toml`);
    const config = parse(response.body) as unknown as WebProxyConfigFile;
    expect(config.format_version).toBe(1);
    expect(config.control_plane.url).toBe(testApp.config.publicUrl);
    // The test app has no TLS CA of its own (TLS external): the key is left out.
    expect(config.control_plane.ca_certificate).toBeUndefined();
    expect(config.control_plane.policy_url).toBe(`${testApp.config.publicUrl}${AUTHORIZER}/icap/policy`);
    expect(config.registration.trusted_client_id).toBe(clientId);
    expect(config.registration.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(config.registration.register_url).toBe(`${testApp.config.publicUrl}${AUTHORIZER}/icap/register`);
    expect(config.web_proxy_ca.certificate).toContain('-----BEGIN CERTIFICATE-----');
    expect(response.body).not.toContain('PRIVATE KEY');
    expect(config.icap).toEqual({ listen_address: '127.0.0.1', listen_port: 1344, reqmod_service: 'privgate-reqmod', respmod_service: 'privgate-respmod' });
    expect(config.web_proxy).toEqual({ address: '10.0.0.7', port: 3128 });
    expect(config.policy.long_poll_seconds).toBeGreaterThan(0);
    expect(config.policy.long_poll_seconds).toBeLessThanOrEqual(60);
    expect(config.log.level).toBe('info');
    expect(config.state_directory).toBe('./state');
    // The CA in the file is the one the API publishes.
    const ca = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas/${config.web_proxy_ca.id}`, headers: bearer(manager) });
    expect(ca.json().x509_certificate).toBe(config.web_proxy_ca.certificate);
    // Neither the session id nor the secret reaches the log or the audit trail.
    const audit = JSON.stringify(await db().selectFrom('audit_events').selectAll().execute());
    for (const secret of [sessionId, config.registration.secret]) {
      expect(audit).not.toContain(secret);
      expect(testApp.logs.join('\n')).not.toContain(secret);
    }
    const downloaded = await db().selectFrom('audit_events').select(['principal_id', 'outcome']).where('type', '=', 'web_proxy_config_downloaded').where('object_id', '=', clientId).execute();
    expect(downloaded).toEqual([{ principal_id: expect.any(String), outcome: 'success' }]);
  });

  it('without a token → 401; with only hosts-manage → 403 (both seed endpoints)', async () => {
    const clientId = await f.createClient(manager);
    const sessionId = await f.openSession(manager, clientId);
    const anonymousPost = await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/conf/${clientId}` });
    expect(anonymousPost.statusCode).toBe(401);
    envelope(anonymousPost);
    const anonymousGet = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/conf/${clientId}/${sessionId}` });
    expect(anonymousGet.statusCode).toBe(401);
    const deniedPost = await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/conf/${clientId}`, headers: bearer(hostsManager) });
    expect(deniedPost.statusCode).toBe(403);
    expect(envelope(deniedPost).error_code).toBe('PERMISSION_DENIED');
    const deniedGet = await f.download(hostsManager, clientId, sessionId);
    expect(deniedGet.statusCode).toBe(403);
    expect(envelope(deniedGet).error_code).toBe('PERMISSION_DENIED');
    // The refused attempts did not use the session up.
    expect((await f.download(manager, clientId, sessionId)).statusCode).toBe(200);
  });

  it('a session id works once: 6 simultaneous downloads → exactly one 200, the rest 404', async () => {
    const clientId = await f.createClient(manager);
    const sessionId = await f.openSession(manager, clientId);
    const responses = await Promise.all(Array.from({ length: 6 }, () => f.download(manager, clientId, sessionId)));
    const statuses = responses.map((response) => response.statusCode).sort();
    expect(statuses).toEqual([200, 404, 404, 404, 404, 404]);
    for (const response of responses.filter((candidate) => candidate.statusCode === 404)) expect(envelope(response).error_code).toContain('NOT_FOUND');
    // Later attempts, on either path, are 404 too.
    expect((await f.download(manager, clientId, sessionId)).statusCode).toBe(404);
    expect((await f.download(manager, clientId, sessionId, 'carrier')).statusCode).toBe(404);
  });

  it('unknown client → 404 NOT_FOUND; non-ICAP client → 400 INVALID_REQUEST_DATA; unknown session → 404', async () => {
    const unknown = await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/conf/00000000-0000-4000-8000-00000000dead`, headers: bearer(manager) });
    expect(unknown.statusCode).toBe(404);
    expect(envelope(unknown).error_code).toContain('NOT_FOUND');
    const unknownGet = await f.download(manager, '00000000-0000-4000-8000-00000000dead', 'whatever');
    expect(unknownGet.statusCode).toBe(404);

    const extender = await f.createClient(manager, { type: 'EXTENDER' });
    const notIcap = await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/conf/${extender}`, headers: bearer(manager) });
    expect(notIcap.statusCode).toBe(400);
    expect(envelope(notIcap).error_code).toBe('INVALID_REQUEST_DATA');
    expect((await f.download(manager, extender, 'whatever')).statusCode).toBe(400);

    const icap = await f.createClient(manager);
    const noSession = await f.download(manager, icap, 'no-such-session-id');
    expect(noSession.statusCode).toBe(404);
    expect(envelope(noSession).error_code).toContain('NOT_FOUND');
  });

  it('a session of client A presented with client B → 404, and A can still use it', async () => {
    const clientA = await f.createClient(manager);
    const clientB = await f.createClient(manager);
    const sessionA = await f.openSession(manager, clientA);
    expect((await f.download(manager, clientB, sessionA)).statusCode).toBe(404);
    expect((await f.download(manager, clientB, sessionA, 'carrier')).statusCode).toBe(404);
    expect((await f.download(manager, clientA, sessionA)).statusCode).toBe(200);
  });

  it('the carrier path serves the download of a session opened via icap/conf, with the same headers', async () => {
    const clientId = await f.createClient(manager);
    const sessionId = await f.openSession(manager, clientId);
    const response = await f.download(manager, clientId, sessionId, 'carrier');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-disposition']).toBe(`attachment; filename=web-proxy-${clientId}-config.toml`);
    expect((parse(response.body) as unknown as WebProxyConfigFile).registration.trusted_client_id).toBe(clientId);
    expect((await f.download(manager, clientId, sessionId)).statusCode).toBe(404);
  });

  it('registration with the downloaded secret succeeds once; the proxy gets a token and a certificate from the CA', async () => {
    const clientId = await f.createClient(manager, { web_proxy_address: 'proxy.example.com' });
    const config = await f.config(manager, clientId);
    const response = await f.register(config);
    expect(response.statusCode, response.body).toBe(200);
    const registered = response.json() as Registered;
    expect(Object.keys(registered).sort()).toEqual(['ca_certificate', 'certificate', 'client_secret', 'oauth_client_id', 'oauth_client_secret', 'trusted_client_id']);
    expect(registered.trusted_client_id).toBe(clientId);
    expect(registered.ca_certificate).toBe(config.web_proxy_ca.certificate);

    const certificate = new X509Certificate(registered.certificate);
    const ca = new X509Certificate(registered.ca_certificate);
    expect(certificate.verify(ca.publicKey)).toBe(true);
    expect(certificate.checkIssued(ca)).toBe(true);
    expect(certificate.subjectAltName).toContain('proxy.example.com');
    const eku = new x509.X509Certificate(registered.certificate).getExtension(x509.ExtendedKeyUsageExtension);
    expect(eku?.usages).toEqual(expect.arrayContaining([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]));
    const stored = await db().selectFrom('web_proxy_certificates').selectAll().where('trusted_client_id', '=', clientId).execute();
    expect(stored.map((row) => row.serial)).toEqual([normalizeSerialHex(certificate.serialNumber)]);

    const client = (await testApp.app.inject({ method: 'GET', url: `${CLIENTS}/${clientId}`, headers: bearer(manager) })).json();
    expect(client).toMatchObject({ registered: true, oauth_client_id: registered.oauth_client_id, secret: '' });
    const row = await db().selectFrom('trusted_clients').selectAll().where('id', '=', clientId).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(registered.client_secret);
    expect(JSON.stringify(row)).not.toContain(registered.oauth_client_secret);

    // The secret is consumed.
    const again = await f.register(config);
    expect(again.statusCode).toBe(403);
    expect(envelope(again).error_code).toBe('PERMISSION_DENIED');
    const failures = await db().selectFrom('audit_events').select(['outcome', 'details']).where('type', '=', 'web_proxy_registration').where('object_id', '=', clientId).orderBy('seq').execute();
    expect(failures.map((event) => event.outcome)).toEqual(['success', 'failure']);
    expect(JSON.parse(failures[1]?.details ?? '{}')).toMatchObject({ reason: expect.stringContaining('registration secret') });

    // The registered proxy authenticates with the password grant as a service principal.
    const grant = await f.proxyToken(registered);
    expect(grant.statusCode, grant.body).toBe(200);
    const token = grant.json().access_token as string;
    const policy = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/policy`, headers: bearer(token) });
    expect(policy.statusCode).toBe(200);
    const cas = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas`, headers: bearer(token) });
    expect(cas.statusCode).toBe(200);
    const defaults = await testApp.app.inject({ method: 'GET', url: '/host-store/api/v1/settings/default_service_options', headers: bearer(token) });
    expect(defaults.statusCode, defaults.body).toBe(200);
    // …but it is not an administrator.
    expect((await testApp.app.inject({ method: 'GET', url: CLIENTS, headers: bearer(token) })).statusCode).toBe(403);
    // Its refresh token works (subject loader for trusted clients).
    const refreshed = await testApp.app.inject({
      method: 'POST',
      url: '/auth/api/v1/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${registered.oauth_client_id}:${registered.oauth_client_secret}`).toString('base64')}` },
      payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.json().refresh_token as string }).toString(),
    });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
  });

  it('wrong secrets, wrong passwords and unknown clients are refused', async () => {
    const clientId = await f.createClient(manager);
    const config = await f.config(manager, clientId);
    const wrong = await f.register(config, { secret: 'not-the-secret' });
    expect(wrong.statusCode).toBe(403);
    const unknown = await f.register({ ...config, registration: { ...config.registration, trusted_client_id: 'nobody' } });
    expect(unknown.statusCode).toBe(403);
    const registered = (await f.register(config)).json() as Registered;
    const badPassword = await f.proxyToken({ ...registered, client_secret: 'wrong' });
    expect(badPassword.statusCode).toBe(401);
    const badOauth = await f.proxyToken({ ...registered, oauth_client_secret: 'wrong' });
    expect(badOauth.statusCode).toBe(401);
  });

  it('a bad CSR → 400 naming csr, and the secret still works afterwards', async () => {
    const clientId = await f.createClient(manager);
    const config = await f.config(manager, clientId);
    const bad = await testApp.app.inject({
      method: 'POST',
      url: `${AUTHORIZER}/icap/register`,
      payload: { trusted_client_id: clientId, secret: config.registration.secret, csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----' },
    });
    expect(bad.statusCode).toBe(400);
    expect(envelope(bad).property).toBe('csr');
    const missing = await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/register`, payload: { trusted_client_id: clientId, secret: config.registration.secret } });
    expect(missing.statusCode).toBe(400);
    expect(envelope(missing)).toMatchObject({ error_code: 'REQUIRED_VALUE_MISSING', property: 'csr' });
    expect((await f.register(config)).statusCode).toBe(200);
  });

  it('a second download makes the first secret stop working; the latest one registers', async () => {
    const clientId = await f.createClient(manager);
    const first = await f.config(manager, clientId);
    const second = await f.config(manager, clientId);
    expect(second.registration.secret).not.toBe(first.registration.secret);
    expect((await f.register(first)).statusCode).toBe(403);
    expect((await f.register(second)).statusCode).toBe(200);
  });

  it('registration from an address outside the subnets → 403, audited; from inside → 200', async () => {
    const clientId = await f.createClient(manager, { subnets: ['10.0.0.0/8', '2001:db8::/32'] });
    const config = await f.config(manager, clientId);
    const outside = await f.register(config, { remoteAddress: '203.0.113.9' });
    expect(outside.statusCode).toBe(403);
    expect(envelope(outside).error_code).toBe('PERMISSION_DENIED');
    const event = await db().selectFrom('audit_events').select(['details', 'source_address']).where('type', '=', 'web_proxy_registration').where('object_id', '=', clientId).executeTakeFirstOrThrow();
    expect(event.source_address).toBe('203.0.113.9');
    expect(JSON.parse(event.details)).toMatchObject({ reason: expect.stringContaining('subnets') });
    expect((await f.register(config, { remoteAddress: '10.20.30.40' })).statusCode).toBe(200);
  });

  it('disabled and non-ICAP clients cannot register', async () => {
    const clientId = await f.createClient(manager);
    const config = await f.config(manager, clientId);
    const current = (await testApp.app.inject({ method: 'GET', url: `${CLIENTS}/${clientId}`, headers: bearer(manager) })).json();
    await testApp.app.inject({ method: 'PUT', url: `${CLIENTS}/${clientId}`, headers: bearer(manager), payload: { ...current, enabled: false } });
    expect((await f.register(config)).statusCode).toBe(403);

    // A disabled-at-download client: the secret exists but the client is disabled.
    const disabledId = await f.createClient(manager, { enabled: false });
    const disabledConfig = await f.config(manager, disabledId);
    const refused = await f.register(disabledConfig);
    expect(refused.statusCode).toBe(403);
    const event = await db().selectFrom('audit_events').select('details').where('type', '=', 'web_proxy_registration').where('object_id', '=', disabledId).executeTakeFirstOrThrow();
    expect(JSON.parse(event.details)).toMatchObject({ reason: 'trusted client disabled' });
  });

  it('repeated registration when allowed: new credentials, the old certificate is revoked and old tokens stop working', async () => {
    const clientId = await f.createClient(manager, { allow_repeated_registration: true });
    const first = (await f.register(await f.config(manager, clientId))).json() as Registered;
    const oldToken = (await f.proxyToken(first)).json().access_token as string;
    const second = await f.register(await f.config(manager, clientId));
    expect(second.statusCode).toBe(200);
    const renewed = second.json() as Registered;
    expect(renewed.oauth_client_id).not.toBe(first.oauth_client_id);
    expect((await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/policy`, headers: bearer(oldToken) })).statusCode).toBe(401);
    expect((await f.proxyToken(first)).statusCode).toBe(401);
    expect((await f.proxyToken(renewed)).statusCode).toBe(200);
    const caId = (await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas`, headers: bearer(manager) })).json()[0].id as string;
    const serials = await crlSerials(testApp, manager, caId);
    expect(serials).toContain(normalizeSerialHex(new X509Certificate(first.certificate).serialNumber));
    expect(serials).not.toContain(normalizeSerialHex(new X509Certificate(renewed.certificate).serialNumber));
  });

  it('deleting a registered client revokes its tokens and puts its certificate in the CRL (DER and PEM)', async () => {
    const clientId = await f.createClient(manager);
    const registered = (await f.register(await f.config(manager, clientId))).json() as Registered;
    const token = (await f.proxyToken(registered)).json().access_token as string;
    const serial = normalizeSerialHex(new X509Certificate(registered.certificate).serialNumber);
    const cas = (await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas`, headers: bearer(manager) })).json() as Array<{ id: string }>;
    expect(cas).toHaveLength(1);
    const caId = cas[0]!.id;
    expect(await crlSerials(testApp, manager, caId)).not.toContain(serial);

    const deleted = await testApp.app.inject({ method: 'DELETE', url: `${CLIENTS}/${clientId}`, headers: bearer(manager) });
    expect(deleted.statusCode).toBe(200);
    expect(await crlSerials(testApp, manager, caId)).toContain(serial);
    expect((await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/policy`, headers: bearer(token) })).statusCode).toBe(401);
    expect((await f.proxyToken(registered)).statusCode).toBe(401);

    // The CRL is signed by the CA, and also served as PEM.
    const pem = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas/${caId}/crl?format=pem`, headers: bearer(manager) });
    expect(pem.statusCode).toBe(200);
    expect(pem.body).toContain('-----BEGIN X509 CRL-----');
    const crl = new x509.X509Crl(pem.body);
    const caCertificate = new x509.X509Certificate(registered.ca_certificate);
    expect(await crl.verify({ publicKey: caCertificate.publicKey })).toBe(true);
  });

  it('disabling a registered client revokes its tokens and certificate and drops its registration', async () => {
    const clientId = await f.createClient(manager);
    const registered = (await f.register(await f.config(manager, clientId))).json() as Registered;
    const token = (await f.proxyToken(registered)).json().access_token as string;
    const current = (await testApp.app.inject({ method: 'GET', url: `${CLIENTS}/${clientId}`, headers: bearer(manager) })).json();
    expect((await testApp.app.inject({ method: 'PUT', url: `${CLIENTS}/${clientId}`, headers: bearer(manager), payload: { ...current, enabled: false } })).statusCode).toBe(200);
    expect((await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/policy`, headers: bearer(token) })).statusCode).toBe(401);
    expect((await f.proxyToken(registered)).statusCode).toBe(401);
    const after = (await testApp.app.inject({ method: 'GET', url: `${CLIENTS}/${clientId}`, headers: bearer(manager) })).json();
    expect(after).toMatchObject({ enabled: false, registered: false, oauth_client_id: '' });
    const rows = await db().selectFrom('web_proxy_certificates').select('revoked').where('trusted_client_id', '=', clientId).execute();
    expect(rows.every((row) => row.revoked !== null)).toBe(true);
  });

  it('CA endpoints: bare array, CA object shape, permissions, 404', async () => {
    const viewer = (await tokenWith(testApp, ['certificates-view'])).token;
    const list = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas`, headers: bearer(viewer) });
    expect(list.statusCode).toBe(200);
    const cas = list.json();
    expect(Array.isArray(cas)).toBe(true);
    expect(cas).toHaveLength(1);
    const one = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas/${cas[0].id}`, headers: bearer(viewer) });
    expect(one.statusCode).toBe(200);
    const ca = one.json();
    expect(Object.keys(ca).sort()).toEqual(
      ['id', 'group_id', 'type', 'size', 'public_key', 'public_key_string', 'x509_certificate', 'subject', 'issuer', 'serial', 'not_before', 'not_after', 'fingerprints'].sort(),
    );
    expect(ca).toMatchObject({ type: 'ICAP', size: 256, fingerprints: { sha1: expect.stringMatching(/^[0-9a-f]{40}$/), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(ca.public_key_string).toMatch(/^ecdsa-sha2-nistp256 /);
    expect(new Date(ca.not_after).toISOString()).toBe(ca.not_after);
    expect(JSON.stringify(ca)).not.toContain('PRIVATE');
    const missing = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas/nope`, headers: bearer(viewer) });
    expect(missing.statusCode).toBe(404);
    expect(envelope(missing).error_code).toContain('NOT_FOUND');
    expect((await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas`, headers: bearer(hostsManager) })).statusCode).toBe(403);
  });
});

describe.each(testBackends())('config session expiry on %s', (backend) => {
  let testApp: TestApp;
  const clock = new ManualClock(new Date('2030-01-01T00:00:00Z'));
  const f = fixtures(() => testApp);

  beforeAll(async () => {
    testApp = await createTestApp(backend, { clock });
  });
  afterAll(async () => testApp?.close());

  it('a session expires after icapConfSessionTtlSeconds', async () => {
    const manager = (await tokenWith(testApp, ['api-clients-manage'])).token;
    const clientId = await f.createClient(manager);
    const fresh = await f.openSession(manager, clientId);
    const stale = await f.openSession(manager, clientId);
    clock.advance(testApp.config.icapConfSessionTtlSeconds - 1);
    expect((await f.download(manager, clientId, fresh)).statusCode).toBe(200);
    clock.advance(2);
    const expired = await f.download(manager, clientId, stale);
    expect(expired.statusCode).toBe(404);
    expect(envelope(expired).error_code).toContain('NOT_FOUND');
  });

  it('a registration secret expires', async () => {
    const manager = (await tokenWith(testApp, ['api-clients-manage'])).token;
    const clientId = await f.createClient(manager);
    const config = await f.config(manager, clientId);
    clock.advance(25 * 3600);
    const response = await f.register(config);
    expect(response.statusCode).toBe(403);
    const event = await testApp.app.context.database.db.selectFrom('audit_events').select('details').where('type', '=', 'web_proxy_registration').where('object_id', '=', clientId).executeTakeFirstOrThrow();
    expect(JSON.parse(event.details)).toMatchObject({ reason: 'registration secret expired' });
  });
});

describe.each(testBackends())('registration throttling on %s', (backend) => {
  let testApp: TestApp;
  const f = fixtures(() => testApp);

  beforeAll(async () => {
    testApp = await createTestApp(backend);
  });
  afterAll(async () => testApp?.close());

  it('failures from one address are throttled with 429 at the per-address limit, even with the right secret', async () => {
    const manager = (await tokenWith(testApp, ['api-clients-manage'])).token;
    const clientId = await f.createClient(manager);
    const config = await f.config(manager, clientId);
    for (let attempt = 0; attempt < testApp.config.throttle.perAddress; attempt += 1) {
      expect((await f.register(config, { secret: `guess-${attempt}`, remoteAddress: '203.0.113.250' })).statusCode).toBe(403);
    }
    const throttled = await f.register(config, { remoteAddress: '203.0.113.250' });
    expect(throttled.statusCode).toBe(429);
    expect(envelope(throttled).error_code).toBe('TOO_MANY_CONNECTIONS');
  });

  it('knowing a client id is not enough to lock its registration out: failures from other addresses do not count against it', async () => {
    const manager = (await tokenWith(testApp, ['api-clients-manage'])).token;
    const clientId = await f.createClient(manager, { subnets: ['198.51.100.0/24'] });
    const config = await f.config(manager, clientId);
    for (let attempt = 0; attempt < 3 * testApp.config.throttle.perAccount; attempt += 1) {
      expect((await f.register(config, { secret: `guess-${attempt}`, remoteAddress: `203.0.113.${attempt + 1}` })).statusCode).toBe(403);
    }
    const registered = await f.register(config, { remoteAddress: '198.51.100.20' });
    expect(registered.statusCode, registered.body).toBe(200);
  });

  it('a registration refused for a malformed CSR is not counted', async () => {
    const manager = (await tokenWith(testApp, ['api-clients-manage'])).token;
    const clientId = await f.createClient(manager, { subnets: ['198.51.100.0/24'] });
    const config = await f.config(manager, clientId);
    for (let attempt = 0; attempt < testApp.config.throttle.perAddress + 2; attempt += 1) {
      const response = await testApp.app.inject({
        method: 'POST',
        url: `${AUTHORIZER}/icap/register`,
        remoteAddress: '198.51.100.30',
        payload: { trusted_client_id: clientId, secret: config.registration.secret, csr: 'not a CSR' },
      });
      expect(response.statusCode).toBe(400);
    }
    expect((await f.register(config, { remoteAddress: '198.51.100.30' })).statusCode).toBe(200);
  });
});

describe('the web-proxy config file', () => {
  it('carries the control plane CA when there is one, and parses back to the same document', () => {
    const document = webProxyConfig({
      publicUrl: 'https://privgate.example.com:8443/',
      controlPlaneCaPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      trustedClientId: 'tc-1',
      registrationSecret: 's3cret',
      registrationSecretExpires: '2030-01-01T00:00:00.000Z',
      webProxyCa: { id: 'ca-1', certificatePem: '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n' },
      webProxyAddress: '',
      webProxyPort: '',
    });
    const text = renderWebProxyConfig(document);
    const parsed = parse(text) as unknown as WebProxyConfigFile;
    expect(parsed).toEqual(document);
    expect(parsed.control_plane.url).toBe('https://privgate.example.com:8443');
    expect(parsed.control_plane.ca_certificate).toContain('MIIB');
    expect(parsed.web_proxy).toEqual({});
    expect(parsed.web_proxy_ca.crl_url).toBe('https://privgate.example.com:8443/authorizer/api/v1/icap/cas/ca-1/crl');
  });
});
