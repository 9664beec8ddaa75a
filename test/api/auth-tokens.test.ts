import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, signJwt } from '../../src/lib/jwt.js';
import { ManualClock } from '../../src/lib/time.js';
import { ADMIN_PASSWORD, bearer, createTestApp, envelope, passwordGrantRequest, tokenWith, type ClientCredentials, type TestApp } from '../helpers/app.js';
import { createTestStorage, testBackends } from '../helpers/backends.js';

const PROTECTED = '/role-store/api/v1/roles';

/** The Go SDK's user flow: authorize (307 + token), login (code + state), code exchange with PKCE. */
async function goSdkLogin(testApp: TestApp, username: string, password: string, verifier = crypto.randomBytes(32).toString('base64url')) {
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const state = crypto.randomBytes(32).toString('base64url');
  const authorize = await testApp.app.inject({
    method: 'GET',
    url: `/auth/api/v1/oauth/authorize?${new URLSearchParams({ client_id: 'privx-ui', redirect_uri: '/privx/oauth-callback', response_type: 'code', state, user_agent: 'privx-sdk-go', code_challenge: challenge, code_challenge_method: 'S256' })}`,
    headers: { 'content-type': 'application/json' },
  });
  expect(authorize.statusCode).toBe(307);
  const loginToken = new URL(String(authorize.headers.location), 'https://x').searchParams.get('token');
  expect(loginToken).toBeTruthy();
  const login = await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/login', payload: { username, password, token: loginToken } });
  return { login, state, verifier };
}

async function exchangeCode(testApp: TestApp, code: string, verifier: string) {
  return testApp.app.inject({
    method: 'POST',
    url: '/auth/api/v1/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ client_id: 'privx-ui', redirect_uri: '/privx/oauth-callback', grant_type: 'authorization_code', code, code_verifier: verifier }).toString(),
  });
}

describe.each(testBackends())('OAuth2 token service on %s', (backend) => {
  let testApp: TestApp;
  let admin: { token: string; credentials: ClientCredentials };
  const clock = new ManualClock();

  beforeAll(async () => {
    testApp = await createTestApp(backend, { clock });
    admin = await tokenWith(testApp, 'admin');
  });
  afterAll(async () => testApp?.close());

  it('an API client created with the CLI gets a token with the password grant exactly as the Python SDK sends it, and calls a protected endpoint', async () => {
    const args = ['dist/cli/index.js', 'api-client', 'create', '--name', `cli-${backend}`, '--role', 'privx-admin', '--data-dir', testApp.storage.dataDir];
    if (testApp.storage.databaseUrl) args.push('--database-url', testApp.storage.databaseUrl, '--database-schema', testApp.storage.databaseSchema ?? '');
    const result = spawnSync(process.execPath, args.map((arg, index) => (index === 0 ? path.resolve(arg) : arg)), { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const credentials = JSON.parse(result.stdout) as ClientCredentials;
    expect(Object.keys(credentials).sort()).toEqual(['id', 'oauth_client_id', 'oauth_client_secret', 'secret']);
    // Stored hashed and sealed, never in the clear; privx-admin reads the secrets back as PrivX answers them.
    const row = await testApp.app.context.database.db.selectFrom('api_clients').selectAll().where('id', '=', credentials.id).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(credentials.secret);
    expect(JSON.stringify(row)).not.toContain(credentials.oauth_client_secret);
    const read = await testApp.app.inject({ method: 'GET', url: `/local-user-store/api/v1/api-clients/${credentials.id}`, headers: bearer(admin.token) });
    expect(read.json()).toMatchObject({ secret: credentials.secret, oauth_client_secret: credentials.oauth_client_secret });

    const token = await testApp.app.inject(passwordGrantRequest(credentials));
    expect(token.statusCode).toBe(200);
    const body = token.json();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 300 });
    expect(Number.isInteger(body.expires_in)).toBe(true);
    expect(typeof body.refresh_token).toBe('string');
    const call = await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(body.access_token) });
    expect(call.statusCode).toBe(200);
  });

  it('a user logs in with authorization code + PKCE as the Go SDK drives it, and calls a protected endpoint', async () => {
    const { login, state, verifier } = await goSdkLogin(testApp, 'admin', ADMIN_PASSWORD);
    expect(login.statusCode).toBe(200);
    expect(login.json().state).toBe(state);
    const token = await exchangeCode(testApp, login.json().code, verifier);
    expect(token.statusCode).toBe(200);
    const call = await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(token.json().access_token) });
    expect(call.statusCode).toBe(200);
  });

  it('an authorization code works once; a second exchange is 400 INVALID_GRANT', async () => {
    const { login, verifier } = await goSdkLogin(testApp, 'admin', ADMIN_PASSWORD);
    expect((await exchangeCode(testApp, login.json().code, verifier)).statusCode).toBe(200);
    const again = await exchangeCode(testApp, login.json().code, verifier);
    expect(again.statusCode).toBe(400);
    expect(envelope(again).error_code).toBe('INVALID_GRANT');
  });

  it('a wrong PKCE verifier is 400 INVALID_GRANT and leaves the code unused', async () => {
    const { login, verifier } = await goSdkLogin(testApp, 'admin', ADMIN_PASSWORD);
    const wrong = await exchangeCode(testApp, login.json().code, crypto.randomBytes(32).toString('base64url'));
    expect(wrong.statusCode).toBe(400);
    expect(envelope(wrong)).toMatchObject({ error_code: 'INVALID_GRANT', property: 'code_verifier' });
    expect((await exchangeCode(testApp, login.json().code, verifier)).statusCode).toBe(200);
  });

  it('an expired authorization code is rejected', async () => {
    const { login, verifier } = await goSdkLogin(testApp, 'admin', ADMIN_PASSWORD);
    clock.advance(120);
    const late = await exchangeCode(testApp, login.json().code, verifier);
    expect(late.statusCode).toBe(400);
    expect(envelope(late).error_code).toBe('INVALID_GRANT');
  });

  it('a wrong password at login is 401 and audited as a failed login without the password', async () => {
    const { login } = await goSdkLogin(testApp, 'admin', 'not the password');
    expect(login.statusCode).toBe(401);
    envelope(login);
    const events = await testApp.app.context.database.db.selectFrom('audit_events').selectAll().where('type', '=', 'login_failed').execute();
    expect(events.length).toBeGreaterThan(0);
    expect(JSON.stringify(events)).not.toContain('not the password');
  });

  it('an unsupported grant type is 400 UNSUPPORTED_GRANT_TYPE', async () => {
    const response = await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials' });
    expect(response.statusCode).toBe(400);
    expect(envelope(response)).toMatchObject({ error_code: 'UNSUPPORTED_GRANT_TYPE', property: 'grant_type' });
  });

  it('wrong Basic credentials or a wrong client secret are 401 INVALID_CLIENT', async () => {
    const wrongOauth = await testApp.app.inject(passwordGrantRequest({ ...admin.credentials, oauth_client_secret: 'nope' }));
    expect(wrongOauth.statusCode).toBe(401);
    expect(envelope(wrongOauth).error_code).toBe('INVALID_CLIENT');
    const wrongSecret = await testApp.app.inject(passwordGrantRequest({ ...admin.credentials, secret: 'nope' }));
    expect(wrongSecret.statusCode).toBe(401);
    const noBasic = await testApp.app.inject({ ...passwordGrantRequest(admin.credentials), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(noBasic.statusCode).toBe(401);
  });

  it('a refresh token rotates; reusing the old one revokes the whole family', async () => {
    const first = (await testApp.app.inject(passwordGrantRequest(admin.credentials))).json();
    const refresh = (token: string) =>
      testApp.app.inject({ method: 'POST', url: '/auth/api/v1/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `grant_type=refresh_token&refresh_token=${encodeURIComponent(token)}` });
    const second = await refresh(first.refresh_token);
    expect(second.statusCode).toBe(200);
    expect(second.json().refresh_token).not.toBe(first.refresh_token);
    const reuse = await refresh(first.refresh_token);
    expect(reuse.statusCode).toBe(400);
    expect(envelope(reuse).error_code).toBe('INVALID_GRANT');
    // The legitimate holder's newer token died with its family.
    expect((await refresh(second.json().refresh_token)).statusCode).toBe(400);
    const reuseEvents = await testApp.app.context.database.db.selectFrom('audit_events').select('id').where('type', '=', 'refresh_token_reused').execute();
    expect(reuseEvents.length).toBe(1);
  });

  it('logout revokes the caller’s access and refresh tokens on every node', async () => {
    const tokens = (await testApp.app.inject(passwordGrantRequest(admin.credentials))).json();
    clock.advance(1);
    expect((await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/logout', headers: bearer(tokens.access_token) })).statusCode).toBe(200);
    const after = await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(tokens.access_token) });
    expect(after.statusCode).toBe(401);
    const refresh = await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `grant_type=refresh_token&refresh_token=${tokens.refresh_token}` });
    expect(refresh.statusCode).toBe(400);
    clock.advance(1);
    admin = { ...admin, token: (await testApp.app.inject(passwordGrantRequest(admin.credentials))).json().access_token };
  });

  it('tampered, alg=none, foreign-key and expired tokens are 401 with WWW-Authenticate', async () => {
    const [header = '', payload = '', signature = ''] = admin.token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    const foreignKey = await generateSigningKey();
    const foreign = await signJwt(claims, foreignKey);
    const variants = { tampered: `${header}.${forged}.${signature}`, none, foreign, garbage: 'abc.def.ghi' };
    for (const [name, token] of Object.entries(variants)) {
      const response = await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(token) });
      expect(response.statusCode, name).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
      envelope(response);
    }
    const fresh = (await testApp.app.inject(passwordGrantRequest(admin.credentials))).json().access_token;
    clock.advance(301 + 5);
    expect((await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(fresh) })).statusCode).toBe(401);
    admin = { ...admin, token: (await testApp.app.inject(passwordGrantRequest(admin.credentials))).json().access_token };
  });

  it('a key rotation keeps earlier tokens valid and publishes both keys in the JWKS', async () => {
    const before = admin.token;
    const rotate = await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/keys/rotate', headers: bearer(before) });
    expect(rotate.statusCode).toBe(200);
    const jwks = await testApp.app.inject({ method: 'GET', url: '/auth/api/v1/oauth/jwks' });
    expect(jwks.json().keys.length).toBeGreaterThanOrEqual(2);
    expect((await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(before) })).statusCode).toBe(200);
    const after = (await testApp.app.inject(passwordGrantRequest(admin.credentials))).json().access_token;
    const kid = (token: string) => JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()).kid;
    expect(kid(after)).toBe(rotate.json().kid);
    expect(kid(after)).not.toBe(kid(before));
  });

  it('repeated failures are throttled with 429 TOO_MANY_CONNECTIONS, even with the right secret', async () => {
    const victim = await tokenWith(testApp, []);
    for (let attempt = 0; attempt < testApp.config.throttle.perAccount; attempt += 1) {
      expect((await testApp.app.inject(passwordGrantRequest({ ...victim.credentials, secret: 'guess' }))).statusCode).toBe(401);
    }
    const blocked = await testApp.app.inject(passwordGrantRequest(victim.credentials));
    expect(blocked.statusCode).toBe(429);
    expect(envelope(blocked).error_code).toBe('TOO_MANY_CONNECTIONS');
    expect(blocked.headers['retry-after']).toBeDefined();
    clock.advance(testApp.config.throttle.windowSeconds + 1);
    expect((await testApp.app.inject(passwordGrantRequest(victim.credentials))).statusCode).toBe(200);
  });
});

describe.each(testBackends())('tokens across restarts and nodes on %s', (backend) => {
  it('a token issued before a restart is accepted after it, and one from node A by node B', async () => {
    const storage = await createTestStorage(backend);
    try {
      const nodeA = await createTestApp(backend, { storage });
      const { token } = await tokenWith(nodeA, 'admin');
      const nodeB = await createTestApp(backend, { storage });
      expect((await nodeB.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(token) })).statusCode).toBe(200);
      await nodeA.close();
      await nodeB.close();
      const restarted = await createTestApp(backend, { storage });
      expect((await restarted.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(token) })).statusCode).toBe(200);
      await restarted.close();
    } finally {
      await storage.cleanup();
    }
  });
});
