import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, bearer, createTestApp, passwordGrantRequest, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';
import { ADMIN_ROLE_ID } from '../../src/services/role-store/permissions.js';

/**
 * Runs the flows that handle secrets with logging at debug level, then checks that no password,
 * client secret, registration secret, session id, access or refresh token, or private key shows
 * up in a log line or in a response where it does not belong.
 */
describe.each(testBackends())('secrets hygiene on %s', (backend) => {
  let testApp: TestApp;
  const secrets = new Map<string, string>();
  const remember = (name: string, value: unknown) => {
    if (typeof value === 'string' && value.length >= 8) secrets.set(name, value);
  };

  beforeAll(async () => {
    testApp = await createTestApp(backend, { env: { PRIVGATE_LOG_LEVEL: 'debug' } });
  });
  afterAll(async () => testApp?.close());

  it('no secret appears in any log line or listing after the credential flows', async () => {
    const { app } = testApp;
    remember('admin password', ADMIN_PASSWORD);
    const admin = await tokenWith(testApp, 'admin');
    remember('admin access token', admin.token);
    remember('client secret', admin.credentials.secret);
    remember('oauth client secret', admin.credentials.oauth_client_secret);

    // API client created over HTTP. Its secrets are in the create response, and on GET only for
    // callers holding everything it holds (privx-admin here), so the listing below, made by a
    // holder of api-clients-manage alone, carries none.
    const created = (await app.inject({ method: 'POST', url: '/local-user-store/api/v1/api-clients', headers: bearer(admin.token), payload: { name: 'hygiene', roles: [{ id: ADMIN_ROLE_ID }] } })).json();
    const manager = await tokenWith(testApp, ['api-clients-manage', 'users-manage']);
    remember('created client secret', created.secret);
    remember('created oauth secret', created.oauth_client_secret);
    const tokens = (await app.inject(passwordGrantRequest(created))).json();
    remember('access token', tokens.access_token);
    remember('refresh token', tokens.refresh_token);
    const refreshed = (await app.inject({ method: 'POST', url: '/auth/api/v1/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `grant_type=refresh_token&refresh_token=${tokens.refresh_token}` })).json();
    remember('rotated refresh token', refreshed.refresh_token);
    // A failed grant with a wrong secret in the form body.
    const wrongSecret = `wrong-${crypto.randomBytes(12).toString('hex')}`;
    remember('guessed secret', wrongSecret);
    await app.inject(passwordGrantRequest({ ...created, secret: wrongSecret }));

    // User with a password, PKCE login (the login token and code are one-time secrets too).
    const userPassword = `pw-${crypto.randomBytes(12).toString('hex')}`;
    remember('user password', userPassword);
    await app.inject({ method: 'POST', url: '/local-user-store/api/v1/users', headers: bearer(admin.token), payload: { username: 'hygienic', password: userPassword } });
    const verifier = crypto.randomBytes(32).toString('base64url');
    const authorize = await app.inject({
      method: 'GET',
      url: `/auth/api/v1/oauth/authorize?${new URLSearchParams({ client_id: 'privx-ui', redirect_uri: '/privx/oauth-callback', response_type: 'code', state: 'st', code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' })}`,
    });
    const loginToken = new URL(String(authorize.headers.location), 'https://x').searchParams.get('token') ?? '';
    remember('login token', loginToken);
    const login = (await app.inject({ method: 'POST', url: '/auth/api/v1/login', payload: { username: 'hygienic', password: userPassword, token: loginToken } })).json();
    remember('authorization code', login.code);
    await app.inject({ method: 'POST', url: '/auth/api/v1/login', payload: { username: 'hygienic', password: `${userPassword}x`, token: loginToken } });

    // Listings carry no secret of a client the caller could not manage.
    const listings = await Promise.all([
      app.inject({ method: 'GET', url: '/local-user-store/api/v1/api-clients', headers: bearer(manager.token) }),
      ...['/local-user-store/api/v1/users', '/monitor-service/api/v1/auditevents'].map((url) => app.inject({ method: 'GET', url, headers: bearer(admin.token) })),
    ]);
    const privateKeys = (await app.context.database.db.selectFrom('signing_keys').select('private_key_pem').execute()).map((row) => row.private_key_pem);
    expect(testApp.logs.length).toBeGreaterThan(10);
    const logText = testApp.logs.join('\n');
    for (const [name, value] of secrets) {
      expect(logText.includes(value), `${name} in the log`).toBe(false);
      for (const listing of listings) expect(listing.body.includes(value), `${name} in ${listing.raw.req.url}`).toBe(false);
    }
    for (const key of privateKeys) expect(logText.includes(key.split('\n')[1] ?? key)).toBe(false);
    expect(logText).not.toMatch(/PRIVATE KEY/);
    // The stored forms are hashes and sealed values only.
    const stored = JSON.stringify(await app.context.database.db.selectFrom('api_clients').selectAll().execute()) + JSON.stringify(await app.context.database.db.selectFrom('refresh_tokens').selectAll().execute());
    for (const [name, value] of secrets) expect(stored.includes(value), `${name} stored in the clear`).toBe(false);
  });
});
