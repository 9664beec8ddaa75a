import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyJwt } from '../../src/lib/jwt.js';
import { createCertificateSigningRequest } from '../../src/lib/pki/csr.js';
import { DEFAULT_SERVICE_OPTIONS, type ServiceOptions } from '../../src/lib/service-options.js';
import { ManualClock } from '../../src/lib/time.js';
import type { WebPolicy, WebSessionClaims } from '../../src/lib/web-policy.js';
import { parse } from 'smol-toml';
import type { WebProxyConfigFile } from '../../src/services/authorizer/web-proxy-config.js';
import { bearer, createTestApp, envelope, passwordGrantRequest, tokenWith, type TestApp } from '../helpers/app.js';
import { createTestStorage, testBackends, type TestStorage } from '../helpers/backends.js';
import { MAX_WEB_SESSION_TTL_SECONDS } from '../../src/services/settings/registry.js';

const AUTHORIZER = '/authorizer/api/v1';
const POLICY = `${AUTHORIZER}/icap/policy`;
const DEFAULTS = '/settings/api/v1/settings/host-store/default_service_options';

/** Creates an ICAP trusted client, downloads its config, registers and returns a service token. */
async function registeredProxyToken(testApp: TestApp, manager: string, name: string): Promise<string> {
  const inject = testApp.app.inject.bind(testApp.app);
  const created = await inject({ method: 'POST', url: '/local-user-store/api/v1/trusted-clients', headers: bearer(manager), payload: { type: 'ICAP', name, enabled: true } });
  const clientId = (created.json() as { id: string }).id;
  const session = (await inject({ method: 'POST', url: `${AUTHORIZER}/icap/conf/${clientId}`, headers: bearer(manager) })).json() as { session_id: string };
  const toml = await inject({ method: 'GET', url: `${AUTHORIZER}/icap/conf/${clientId}/${session.session_id}`, headers: bearer(manager) });
  const config = parse(toml.body) as unknown as WebProxyConfigFile;
  const { csrPem } = await createCertificateSigningRequest({ commonName: name });
  const registration = await inject({ method: 'POST', url: `${AUTHORIZER}/icap/register`, payload: { trusted_client_id: clientId, secret: config.registration.secret, csr: csrPem } });
  expect(registration.statusCode, registration.body).toBe(200);
  const registered = registration.json() as { client_secret: string; oauth_client_id: string; oauth_client_secret: string };
  const grant = await inject(passwordGrantRequest({ id: clientId, secret: registered.client_secret, oauth_client_id: registered.oauth_client_id, oauth_client_secret: registered.oauth_client_secret }));
  expect(grant.statusCode, grant.body).toBe(200);
  return (grant.json() as { access_token: string }).access_token;
}

let hostCounter = 0;
async function createHost(testApp: TestApp, token: string, options: { service?: string; principals?: Array<Record<string, unknown>>; domains?: string[] } = {}): Promise<string> {
  hostCounter += 1;
  const name = `web-host-${hostCounter}`;
  const response = await testApp.app.inject({
    method: 'POST',
    url: '/host-store/api/v1/hosts',
    headers: bearer(token),
    payload: {
      common_name: `${name}.example.com`,
      name,
      addresses: [`${name}.example.com`],
      services: [{ service: options.service ?? 'WEB', address: `${name}.example.com`, port: 443, ...(options.service && options.service !== 'WEB' ? {} : { allowed_domains: options.domains ?? ['*.example.com'] }) }],
      principals: options.principals ?? [{ principal: 'alice' }],
    },
  });
  expect(response.statusCode, response.body).toBe(201);
  return (response.json() as { id: string }).id;
}

function withWeb(web: ServiceOptions['web']): ServiceOptions {
  return { ...structuredClone(DEFAULT_SERVICE_OPTIONS), web };
}

describe.each(testBackends())('web policy feed and web sessions on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  let hostsManager: string;
  let proxy: string;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
    hostsManager = (await tokenWith(testApp, ['hosts-manage'])).token;
    proxy = await registeredProxyToken(testApp, admin, 'policy-proxy');
  });
  afterAll(async () => testApp?.close());

  const getPolicy = (headers: Record<string, string> = {}, query = '') => testApp.app.inject({ method: 'GET', url: `${POLICY}${query}`, headers: { ...bearer(proxy), ...headers } });

  it('answers the WebPolicy with a strong ETag of its version; hosts carry effective web options per principal', async () => {
    const override = { web: { file_transfer: false, audio: false, clipboard: true } };
    const webHost = await createHost(testApp, hostsManager, { principals: [{ principal: 'alice' }, { principal: 'bob', service_options: override }], domains: ['*.corp.example.com', 'intranet.example.com'] });
    const sshHost = await createHost(testApp, hostsManager, { service: 'SSH' });
    const response = await getPolicy();
    expect(response.statusCode).toBe(200);
    const policy = response.json() as WebPolicy;
    expect(response.headers.etag).toBe(`"${policy.version}"`);
    expect(Object.keys(policy).sort()).toEqual(['default_web', 'generated', 'hosts', 'revoked_sessions', 'session_keys', 'version']);
    expect(new Date(policy.generated).toISOString()).toBe(policy.generated);
    expect(policy.default_web).toEqual(DEFAULT_SERVICE_OPTIONS.web);
    const jwks = (await testApp.app.inject({ method: 'GET', url: '/auth/api/v1/oauth/jwks' })).json() as { keys: unknown[] };
    expect(policy.session_keys).toEqual(jwks.keys);
    expect(JSON.stringify(policy.session_keys)).not.toMatch(/"d"/);
    expect(policy.hosts.map((host) => host.id)).toContain(webHost);
    expect(policy.hosts.map((host) => host.id)).not.toContain(sshHost);
    const host = policy.hosts.find((candidate) => candidate.id === webHost)!;
    expect(host.services).toEqual([{ address: expect.stringContaining('example.com'), port: 443 }]);
    expect(host.allowed_domains.sort()).toEqual(['*.corp.example.com', 'intranet.example.com']);
    expect(host.principals).toEqual([
      { principal: 'alice', web: DEFAULT_SERVICE_OPTIONS.web, source: 'default' },
      { principal: 'bob', web: override.web, source: 'principal' },
    ]);
  });

  it('If-None-Match with the current version → 304 with no body; another version → 200', async () => {
    const first = await getPolicy();
    const etag = first.headers.etag as string;
    const notModified = await getPolicy({ 'if-none-match': etag });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.body).toBe('');
    expect(notModified.headers.etag).toBe(etag);
    expect((await getPolicy({ 'if-none-match': `W/${etag}` })).statusCode).toBe(304);
    expect((await getPolicy({ 'if-none-match': '"0"' })).statusCode).toBe(200);
  });

  it('only service principals read the feed: admin and hosts-manage → 403, no token → 401; wait is bounded', async () => {
    expect((await testApp.app.inject({ method: 'GET', url: POLICY, headers: bearer(admin) })).statusCode).toBe(403);
    expect((await testApp.app.inject({ method: 'GET', url: POLICY, headers: bearer(hostsManager) })).statusCode).toBe(403);
    expect((await testApp.app.inject({ method: 'GET', url: POLICY })).statusCode).toBe(401);
    const tooLong = await getPolicy({}, '?wait=61');
    expect(tooLong.statusCode).toBe(400);
    expect(envelope(tooLong)).toMatchObject({ error_code: 'VALUE_OUT_OF_BOUNDS', property: 'wait' });
  });

  it('a long-poll without changes answers 304 once the wait is over', async () => {
    const etag = (await getPolicy()).headers.etag as string;
    const started = Date.now();
    const response = await getPolicy({ 'if-none-match': etag }, '?wait=1');
    expect(response.statusCode).toBe(304);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('a default-options change (PUT settings) wakes a waiting long-poll with the new version', async () => {
    const before = await getPolicy();
    const etag = before.headers.etag as string;
    const started = Date.now();
    const waiting = getPolicy({ 'if-none-match': etag }, '?wait=20');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const put = await testApp.app.inject({ method: 'PUT', url: DEFAULTS, headers: bearer(admin), payload: withWeb({ file_transfer: true, audio: true, clipboard: false }) });
    expect(put.statusCode, put.body).toBe(200);
    const response = await waiting;
    expect(response.statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(5000);
    const policy = response.json() as WebPolicy;
    expect(policy.version).toBeGreaterThan((before.json() as WebPolicy).version);
    expect(response.headers.etag).toBe(`"${policy.version}"`);
    expect(policy.default_web).toEqual({ file_transfer: true, audio: true, clipboard: false });
    // Principals without an override follow the new default.
    const alice = policy.hosts.flatMap((host) => host.principals).find((principal) => principal.principal === 'alice');
    expect(alice?.web.clipboard).toBe(false);
  });

  it('creating a host bumps the version and the host appears', async () => {
    const etag = (await getPolicy()).headers.etag as string;
    const id = await createHost(testApp, hostsManager);
    const response = await getPolicy({ 'if-none-match': etag });
    expect(response.statusCode).toBe(200);
    expect((response.json() as WebPolicy).hosts.map((host) => host.id)).toContain(id);
  });

  it('rotating the signing keys bumps the version and publishes the new key', async () => {
    const before = await getPolicy();
    const rotated = await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/keys/rotate', headers: bearer(admin) });
    expect(rotated.statusCode).toBe(200);
    const kid = rotated.json().kid as string;
    const after = await getPolicy({ 'if-none-match': before.headers.etag as string });
    expect(after.statusCode).toBe(200);
    const policy = after.json() as WebPolicy;
    expect(policy.version).toBeGreaterThan((before.json() as WebPolicy).version);
    expect(policy.session_keys.map((key) => key.kid)).toContain(kid);
    // Reading it again does not bump it again.
    expect((await getPolicy({ 'if-none-match': after.headers.etag as string })).statusCode).toBe(304);
  });

  it('web sessions: a web-access user gets a signed, verifiable token with the effective options', async () => {
    const user = await tokenWith(testApp, ['web-access']);
    const override = { web: { file_transfer: false, audio: true, clipboard: false } };
    const hostId = await createHost(testApp, hostsManager, { principals: [{ principal: 'svc', service_options: override }], domains: ['app.example.com'] });
    const response = await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/sessions`, headers: bearer(user.token), payload: { host_id: hostId, principal: 'svc' } });
    expect(response.statusCode, response.body).toBe(201);
    const body = response.json() as { session_id: string; token: string; expires: string };
    expect(Object.keys(body).sort()).toEqual(['expires', 'session_id', 'token']);
    const policy = (await getPolicy()).json() as WebPolicy;
    const keys = new Map(policy.session_keys.map((key) => [key.kid!, key]));
    const verified = await verifyJwt(body.token, { keys: (kid) => keys.get(kid), issuer: 'privgate', audience: 'privgate-web-proxy', now: new Date(), clockToleranceSeconds: 5 });
    expect(verified.ok).toBe(true);
    const claims = (verified as { payload: unknown }).payload as WebSessionClaims;
    expect(claims).toMatchObject({ sid: body.session_id, sub: user.credentials.id, host_id: hostId, principal: 'svc', allowed_domains: ['app.example.com'], web: override.web });
    expect(claims.exp - claims.iat).toBe(testApp.config.webSessionTtlSeconds);
    expect(new Date(body.expires).getTime()).toBe(claims.exp * 1000);
    const row = await testApp.app.context.database.db.selectFrom('web_sessions').selectAll().where('id', '=', body.session_id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ user_id: user.credentials.id, host_id: hostId, principal: 'svc', revoked: null });
    const audit = await testApp.app.context.database.db.selectFrom('audit_events').select('type').where('type', '=', 'web_session_created').where('principal_id', '=', user.credentials.id).execute();
    expect(audit).toHaveLength(1);
  });

  it('web sessions: no permission → 403; unknown host, non-WEB host, unknown principal → 404; bad body → 400', async () => {
    const nobody = (await tokenWith(testApp, [])).token;
    const user = (await tokenWith(testApp, ['web-access'])).token;
    const webHost = await createHost(testApp, hostsManager);
    const sshHost = await createHost(testApp, hostsManager, { service: 'SSH' });
    const post = (token: string, payload: unknown) => testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/sessions`, headers: bearer(token), payload: payload as Record<string, unknown> });
    const denied = await post(nobody, { host_id: webHost, principal: 'alice' });
    expect(denied.statusCode).toBe(403);
    expect(envelope(denied).error_code).toBe('PERMISSION_DENIED');
    for (const payload of [{ host_id: 'no-such-host', principal: 'alice' }, { host_id: sshHost, principal: 'alice' }, { host_id: webHost, principal: 'mallory' }]) {
      const response = await post(user, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(404);
      expect(envelope(response).error_code).toContain('NOT_FOUND');
    }
    const bad = await post(user, { host_id: webHost });
    expect(bad.statusCode).toBe(400);
    expect(envelope(bad)).toMatchObject({ error_code: 'REQUIRED_VALUE_MISSING', property: 'principal' });
    expect((await post(hostsManager, { host_id: webHost, principal: 'alice' })).statusCode).toBe(201);
    expect((await post(admin, { host_id: webHost, principal: 'alice' })).statusCode).toBe(201);
  });

  it('revoking a web session: own user or admin only; it wakes long-polls and is listed as revoked', async () => {
    const owner = (await tokenWith(testApp, ['web-access'])).token;
    const other = (await tokenWith(testApp, ['web-access'])).token;
    const hostId = await createHost(testApp, hostsManager);
    const open = async () =>
      ((await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/sessions`, headers: bearer(owner), payload: { host_id: hostId, principal: 'alice' } })).json() as { session_id: string }).session_id;
    const sessionId = await open();
    const remove = (token: string, id: string) => testApp.app.inject({ method: 'DELETE', url: `${AUTHORIZER}/icap/sessions/${id}`, headers: bearer(token) });

    const notYours = await remove(other, sessionId);
    expect(notYours.statusCode).toBe(403);
    expect((await remove(owner, 'no-such-session')).statusCode).toBe(404);

    const before = await getPolicy();
    expect((before.json() as WebPolicy).revoked_sessions).not.toContain(sessionId);
    const waiting = getPolicy({ 'if-none-match': before.headers.etag as string }, '?wait=20');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const revoked = await remove(owner, sessionId);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toEqual({});
    const woken = await waiting;
    expect(woken.statusCode).toBe(200);
    expect((woken.json() as WebPolicy).revoked_sessions).toContain(sessionId);
    // Revoking again is harmless and does not bump the version.
    expect((await remove(owner, sessionId)).statusCode).toBe(200);
    expect((await getPolicy({ 'if-none-match': woken.headers.etag as string })).statusCode).toBe(304);

    const second = await open();
    expect((await remove(admin, second)).statusCode).toBe(200);
    expect(((await getPolicy()).json() as WebPolicy).revoked_sessions).toContain(second);
    const audit = await testApp.app.context.database.db.selectFrom('audit_events').select('object_id').where('type', '=', 'web_session_revoked').execute();
    expect(audit.map((event) => event.object_id)).toEqual(expect.arrayContaining([sessionId, second]));
  });
});

/** A GET over a fresh connection (no keep-alive pool to outlive the test); `abortAfterMs` hangs up early. */
function httpGet(url: string, headers: Record<string, string>, abortAfterMs?: number): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
    if (abortAfterMs !== undefined) setTimeout(() => request.destroy(new Error('client gave up')), abortAfterMs);
  });
}

describe('the policy long-poll over a real HTTP connection', () => {
  let testApp: TestApp;
  let base: string;
  let proxy: string;

  beforeAll(async () => {
    testApp = await createTestApp('sqlite');
    base = await testApp.app.listen({ host: '127.0.0.1', port: 0 });
    proxy = (await testApp.app.tokens.signAccessToken({ type: 'trusted-client', id: 'http-proxy', name: 'http-proxy', roles: [], permissions: [] }, 'test')).token;
  });
  afterAll(async () => testApp?.close());

  it('holds the request for the wait, answers 304, and survives a client that gives up early', async () => {
    const first = await httpGet(`${base}${POLICY}`, bearer(proxy));
    expect(first.status).toBe(200);
    const etag = String(first.headers.etag);
    const started = Date.now();
    const held = await httpGet(`${base}${POLICY}?wait=1`, { ...bearer(proxy), 'if-none-match': etag });
    expect(held.status).toBe(304);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    // A client that disconnects mid-wait does not break anything.
    await expect(httpGet(`${base}${POLICY}?wait=30`, { ...bearer(proxy), 'if-none-match': etag }, 300)).rejects.toThrow('client gave up');
    const after = await httpGet(`${base}${POLICY}`, { ...bearer(proxy), 'if-none-match': etag });
    expect(after.status).toBe(304);
    expect(testApp.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50)).toEqual([]);
    // Nothing is left running: closing is immediate.
    const closing = Date.now();
    await testApp.app.close();
    expect(Date.now() - closing).toBeLessThan(2000);
  });

  it('shutting down answers held long-polls at once instead of waiting out their timeouts', async () => {
    const node = await createTestApp('sqlite');
    try {
      const url = await node.app.listen({ host: '127.0.0.1', port: 0 });
      const token = (await node.app.tokens.signAccessToken({ type: 'trusted-client', id: 'p', name: 'p', roles: [], permissions: [] }, 'test')).token;
      const first = await httpGet(`${url}${POLICY}`, bearer(token));
      const held = httpGet(`${url}${POLICY}?wait=30`, { ...bearer(token), 'if-none-match': String(first.headers.etag) });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = Date.now();
      await node.app.close();
      expect(Date.now() - started).toBeLessThan(3000);
      expect((await held).status).toBe(304);
    } finally {
      await node.close();
    }
  });
});

describe.each(testBackends())('revoked web sessions expire from the feed on %s', (backend) => {
  let testApp: TestApp;
  const clock = new ManualClock(new Date('2031-06-01T00:00:00Z'));

  beforeAll(async () => {
    testApp = await createTestApp(backend, { clock });
  });
  afterAll(async () => testApp?.close());

  it('a revoked session stays listed until five minutes after it would have expired', async () => {
    const admin = (await tokenWith(testApp, 'admin')).token;
    const proxy = await registeredProxyToken(testApp, admin, 'expiry-proxy');
    const hostId = await createHost(testApp, admin);
    const session = (await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/sessions`, headers: bearer(admin), payload: { host_id: hostId, principal: 'alice' } })).json() as { session_id: string };
    await testApp.app.inject({ method: 'DELETE', url: `${AUTHORIZER}/icap/sessions/${session.session_id}`, headers: bearer(admin) });
    const policy = async () => (await testApp.app.inject({ method: 'GET', url: POLICY, headers: bearer(proxy) })).json() as WebPolicy;
    expect((await policy()).revoked_sessions).toEqual([session.session_id]);
    clock.advance(testApp.config.webSessionTtlSeconds - 10);
    // The proxy's access token has long expired by now; it would have fetched a new one.
    const fresh = await testApp.app.tokens.signAccessToken({ type: 'trusted-client', id: 'p', name: 'p', roles: [], permissions: [] }, 'test');
    const later = (await testApp.app.inject({ method: 'GET', url: POLICY, headers: bearer(fresh.token) })).json() as WebPolicy;
    expect(later.revoked_sessions).toEqual([session.session_id]);
    // Still listed just after expiry: a proxy whose clock lags must not take it for live.
    clock.advance(20);
    const justExpired = await testApp.app.tokens.signAccessToken({ type: 'trusted-client', id: 'p', name: 'p', roles: [], permissions: [] }, 'test');
    expect(((await testApp.app.inject({ method: 'GET', url: POLICY, headers: bearer(justExpired.token) })).json() as WebPolicy).revoked_sessions).toEqual([session.session_id]);
    clock.advance(300);
    const expired = await testApp.app.tokens.signAccessToken({ type: 'trusted-client', id: 'p', name: 'p', roles: [], permissions: [] }, 'test');
    expect(((await testApp.app.inject({ method: 'GET', url: POLICY, headers: bearer(expired.token) })).json() as WebPolicy).revoked_sessions).toEqual([]);
  });

  it('a live web session stays verifiable across key rotations until it expires, then its key is dropped', async () => {
    const admin = () => tokenWith(testApp, 'admin');
    const hostId = await createHost(testApp, (await admin()).token);
    const created = (await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/sessions`, headers: bearer((await admin()).token), payload: { host_id: hostId, principal: 'alice' } })).json() as { token: string };
    const sessionKid = (JSON.parse(Buffer.from(created.token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
    const publishedKids = async () => (await testApp.app.tokens.keys.publicJwks()).map((key) => key.kid);
    const rotate = async () => expect((await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/keys/rotate', headers: bearer((await admin()).token) })).statusCode).toBe(200);

    await rotate();
    // Long past any access token's lifetime, but the web session is still live: its key must stay.
    clock.advance(testApp.config.accessTokenTtlSeconds * 3);
    await rotate();
    expect(testApp.config.webSessionTtlSeconds).toBeGreaterThan(testApp.config.accessTokenTtlSeconds * 3 + 120);
    expect(await publishedKids()).toContain(sessionKid);

    // Retired keys are kept for the longest web-session lifetime the settings allow.
    clock.advance(Math.max(testApp.config.webSessionTtlSeconds, MAX_WEB_SESSION_TTL_SECONDS) + 120);
    await rotate();
    expect(await publishedKids()).not.toContain(sessionKid);
  });
});

describe.runIf(testBackends().includes('postgres'))('two nodes on one PostgreSQL database', () => {
  let storage: TestStorage;
  let nodeA: TestApp;
  let nodeB: TestApp;

  beforeAll(async () => {
    storage = await createTestStorage('postgres');
    nodeA = await createTestApp('postgres', { storage });
    nodeB = await createTestApp('postgres', { storage });
  });
  afterAll(async () => {
    await nodeA?.close();
    await nodeB?.close();
    await storage?.cleanup();
  });

  it('a long-poll on one node is woken by a change made on the other', async () => {
    const admin = (await tokenWith(nodeB, 'admin')).token;
    const proxy = await registeredProxyToken(nodeA, admin, 'two-node-proxy');
    const first = await nodeA.app.inject({ method: 'GET', url: POLICY, headers: bearer(proxy) });
    const waiting = nodeA.app.inject({ method: 'GET', url: `${POLICY}?wait=20`, headers: { ...bearer(proxy), 'if-none-match': first.headers.etag as string } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const put = await nodeB.app.inject({ method: 'PUT', url: DEFAULTS, headers: bearer(admin), payload: withWeb({ file_transfer: false, audio: true, clipboard: true }) });
    expect(put.statusCode, put.body).toBe(200);
    const response = await waiting;
    expect(response.statusCode).toBe(200);
    expect((response.json() as WebPolicy).default_web.file_transfer).toBe(false);
  });

  it('a config session is used once across both nodes, and both nodes share one web-proxy CA', async () => {
    const admin = (await tokenWith(nodeA, 'admin')).token;
    const [casA, casB] = await Promise.all([
      nodeA.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas`, headers: bearer(admin) }),
      nodeB.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas`, headers: bearer(admin) }),
    ]);
    expect(casA.json()).toEqual(casB.json());
    expect(casA.json()).toHaveLength(1);
    const created = await nodeA.app.inject({ method: 'POST', url: '/local-user-store/api/v1/trusted-clients', headers: bearer(admin), payload: { type: 'ICAP', name: 'two-node-conf', enabled: true } });
    const clientId = (created.json() as { id: string }).id;
    const session = (await nodeB.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/conf/${clientId}`, headers: bearer(admin) })).json() as { session_id: string };
    const url = `${AUTHORIZER}/icap/conf/${clientId}/${session.session_id}`;
    const responses = await Promise.all([nodeA, nodeB, nodeA, nodeB, nodeA, nodeB].map((node) => node.app.inject({ method: 'GET', url, headers: bearer(admin) })));
    expect(responses.map((response) => response.statusCode).sort()).toEqual([200, 404, 404, 404, 404, 404]);
  });
});
