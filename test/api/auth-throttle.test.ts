import crypto from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyedHash } from '../../src/lib/secrets.js';
import { addSeconds, ManualClock, timestamp } from '../../src/lib/time.js';
import { purgeExpired } from '../../src/services/housekeeping.js';
import { ADMIN_PASSWORD, createTestApp, envelope, passwordGrantRequest, tokenWith, type TestApp } from '../helpers/app.js';
import { createTestStorage, testBackends, type TestStorage } from '../helpers/backends.js';

/**
 * The password grant reads the throttle's counts in the same statement as the API client; these
 * pin down that the throttle still decides first, per account and per address, on every node.
 */
describe.each(testBackends())('password-grant throttling on %s', (backend) => {
  let storage: TestStorage;
  let nodeA: TestApp;
  let nodeB: TestApp;
  const clock = new ManualClock();
  const env = { PRIVGATE_THROTTLE_PER_ACCOUNT: '3', PRIVGATE_THROTTLE_PER_ADDRESS: '6', PRIVGATE_THROTTLE_WINDOW: '60' };

  beforeAll(async () => {
    storage = await createTestStorage(backend);
    nodeA = await createTestApp(backend, { storage, clock, env });
    nodeB = await createTestApp(backend, { storage, clock, env });
  });
  afterAll(async () => {
    await nodeA?.close();
    await nodeB?.close();
    await storage?.cleanup();
  });

  it('failures on node A lock the account on node B too, even for the right secret, until the window passes', async () => {
    const { credentials } = await tokenWith(nodeA, []);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const node = attempt % 2 === 0 ? nodeA : nodeB;
      expect((await node.app.inject({ ...passwordGrantRequest({ ...credentials, secret: 'wrong' }), remoteAddress: '198.51.100.1' })).statusCode).toBe(401);
    }
    const blocked = await nodeB.app.inject({ ...passwordGrantRequest(credentials), remoteAddress: '198.51.100.2' });
    expect(blocked.statusCode).toBe(429);
    expect(envelope(blocked).error_code).toBe('TOO_MANY_CONNECTIONS');
    expect((await nodeA.app.inject({ ...passwordGrantRequest(credentials), remoteAddress: '198.51.100.3' })).statusCode).toBe(429);
    clock.advance(61);
    expect((await nodeA.app.inject({ ...passwordGrantRequest(credentials), remoteAddress: '198.51.100.3' })).statusCode).toBe(200);
  });

  it('an OAuth client id nobody holds counts against the address only, not the submitted username', async () => {
    const stranger = { id: 'no-such-account', secret: 'x', oauth_client_id: 'no-such-oauth-client', oauth_client_secret: 'y' };
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect((await nodeA.app.inject({ ...passwordGrantRequest(stranger), remoteAddress: '198.51.100.10' })).statusCode).toBe(401);
    }
    // Another address is not throttled for that username; the failing address is, at its own limit.
    expect((await nodeB.app.inject({ ...passwordGrantRequest(stranger), remoteAddress: '198.51.100.11' })).statusCode).toBe(401);
    for (let attempt = 3; attempt < 6; attempt += 1) {
      expect((await nodeB.app.inject({ ...passwordGrantRequest(stranger), remoteAddress: '198.51.100.10' })).statusCode).toBe(401);
    }
    expect((await nodeA.app.inject({ ...passwordGrantRequest(stranger), remoteAddress: '198.51.100.10' })).statusCode).toBe(429);
    clock.advance(61);
  });

  it('one address failing on many accounts is throttled for every account; other addresses are not', async () => {
    const { credentials } = await tokenWith(nodeA, []);
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const guess = { id: `guess-${attempt}`, secret: 'x', oauth_client_id: credentials.oauth_client_id, oauth_client_secret: 'y' };
      expect((await nodeA.app.inject({ ...passwordGrantRequest(guess), remoteAddress: '203.0.113.50' })).statusCode).toBe(401);
    }
    expect((await nodeB.app.inject({ ...passwordGrantRequest(credentials), remoteAddress: '203.0.113.50' })).statusCode).toBe(429);
    expect((await nodeB.app.inject({ ...passwordGrantRequest(credentials), remoteAddress: '203.0.113.51' })).statusCode).toBe(200);
    clock.advance(61);
  });
});

/** A login token from `GET /oauth/authorize`, as the Go SDK's user flow starts. */
async function loginToken(testApp: TestApp): Promise<string> {
  const challenge = crypto.createHash('sha256').update(crypto.randomBytes(32).toString('base64url')).digest('base64url');
  const query = new URLSearchParams({ client_id: 'privx-ui', redirect_uri: '/privx/oauth-callback', response_type: 'code', state: 's', code_challenge: challenge, code_challenge_method: 'S256' });
  const authorize = await testApp.app.inject({ method: 'GET', url: `/auth/api/v1/oauth/authorize?${query}` });
  expect(authorize.statusCode).toBe(307);
  return new URL(String(authorize.headers.location), 'https://x').searchParams.get('token') ?? '';
}

function statusCounts(responses: readonly LightMyRequestResponse[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const response of responses) counts[response.statusCode] = (counts[response.statusCode] ?? 0) + 1;
  return counts;
}

async function failureAudits(testApp: TestApp, account: string): Promise<number> {
  const rows = await testApp.app.context.database.db.selectFrom('audit_events').select('id').where('type', '=', 'login_failed').where('object_id', '=', account).execute();
  return rows.length;
}

/**
 * The throttle reserves an attempt before the (slow, asynchronous) credential check, in one
 * statement that serialises on the key's counter row: however many guesses arrive at once, no more
 * than the limit are checked.
 */
describe.each(testBackends())('the throttle under parallel guesses on %s', (backend) => {
  let testApp: TestApp;
  const clock = new ManualClock();

  beforeAll(async () => {
    testApp = await createTestApp(backend, { clock, env: { PRIVGATE_THROTTLE_PER_ACCOUNT: '5', PRIVGATE_THROTTLE_PER_ADDRESS: '8', PRIVGATE_THROTTLE_WINDOW: '300' } });
  });
  afterAll(async () => testApp?.close());

  it('40 parallel wrong passwords for one user at POST /login: exactly the per-account limit are checked, the rest get 429', async () => {
    const token = await loginToken(testApp);
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        testApp.app.inject({ method: 'POST', url: '/auth/api/v1/login', remoteAddress: `192.0.2.${index + 1}`, payload: { username: 'admin', password: `guess-${index}`, token } }),
      ),
    );
    expect(statusCounts(responses)).toEqual({ 401: 5, 429: 35 });
    for (const response of responses.filter((r) => r.statusCode === 429)) expect(envelope(response).error_code).toBe('TOO_MANY_CONNECTIONS');
    // Only the checked ones were audited as failures, and the account stays locked for the right password too.
    expect(await failureAudits(testApp, 'admin')).toBe(5);
    const locked = await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/login', remoteAddress: '192.0.2.200', payload: { username: 'admin', password: ADMIN_PASSWORD, token } });
    expect(locked.statusCode).toBe(429);
    clock.advance(301);
    const after = await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/login', remoteAddress: '192.0.2.200', payload: { username: 'admin', password: ADMIN_PASSWORD, token } });
    expect(after.statusCode, after.body).toBe(200);
  });

  it('40 parallel wrong passwords for different users from one address: exactly the per-address limit are checked', async () => {
    const token = await loginToken(testApp);
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        testApp.app.inject({ method: 'POST', url: '/auth/api/v1/login', remoteAddress: '203.0.113.7', payload: { username: `someone-${index}`, password: 'guess', token } }),
      ),
    );
    expect(statusCounts(responses)).toEqual({ 401: 8, 429: 32 });
    clock.advance(301);
  });

  it('40 parallel wrong secrets at the password grant: exactly the per-account limit are checked', async () => {
    const { credentials } = await tokenWith(testApp, []);
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, index) => testApp.app.inject({ ...passwordGrantRequest({ ...credentials, secret: `guess-${index}` }), remoteAddress: `192.0.2.${index + 1}` })),
    );
    expect(statusCounts(responses)).toEqual({ 401: 5, 429: 35 });
    expect(await failureAudits(testApp, credentials.id)).toBe(5);
    expect((await testApp.app.inject({ ...passwordGrantRequest(credentials), remoteAddress: '192.0.2.200' })).statusCode).toBe(429);
    clock.advance(301);
  });

  it('a success is not counted against its address, and clears the account', async () => {
    const { credentials } = await tokenWith(testApp, []);
    for (let round = 0; round < 3; round += 1) {
      // Four failures and a success, twelve successes in all from one address: never throttled.
      for (let attempt = 0; attempt < 4; attempt += 1) {
        expect((await testApp.app.inject({ ...passwordGrantRequest({ ...credentials, secret: 'wrong' }), remoteAddress: `198.51.100.${round * 10 + attempt}` })).statusCode).toBe(401);
      }
      for (let success = 0; success < 4; success += 1) {
        expect((await testApp.app.inject({ ...passwordGrantRequest(credentials), remoteAddress: '198.51.100.99' })).statusCode).toBe(200);
      }
    }
    // Nothing is held against either: the account was cleared, the successes never counted.
    const held = await testApp.app.context.database.db.selectFrom('login_attempts').select(['scope', 'n']).where('name', 'in', [credentials.id, '198.51.100.99']).where('n', '>', 0).execute();
    expect(held).toEqual([]);
    clock.advance(301);
  });
});

describe.each(testBackends())('throttle counters and housekeeping on %s', (backend) => {
  let testApp: TestApp;
  const clock = new ManualClock();

  beforeAll(async () => {
    testApp = await createTestApp(backend, { clock, env: { PRIVGATE_THROTTLE_WINDOW: '60' } });
  });
  afterAll(async () => testApp?.close());

  it('housekeeping drops counters whose window started more than two windows ago, and keeps the rest', async () => {
    const db = testApp.app.context.database.db;
    const ago = (seconds: number) => timestamp(addSeconds(clock.now(), -seconds));
    await db.insertInto('login_attempts').values([
      { scope: 'account', name: 'old', n: 5, window_start: ago(121) },
      { scope: 'address', name: 'old', n: 5, window_start: ago(121) },
      { scope: 'account', name: 'recent', n: 5, window_start: ago(61) },
    ]).execute();
    const counts = await purgeExpired(testApp.app.context.database, clock.now(), { throttleWindowSeconds: 60 });
    expect(counts.login_attempts).toBe(2);
    expect(await db.selectFrom('login_attempts').select(['scope', 'name']).where('name', 'in', ['old', 'recent']).execute()).toEqual([{ scope: 'account', name: 'recent' }]);
  });
});

/**
 * Failures count against an account only once the client has authenticated: knowing a client's
 * (or a web proxy's) id is not enough to lock it out. Wrong client credentials count against the
 * address, which still throttles online guessing.
 */
describe.each(testBackends())('who can lock whom out on %s', (backend) => {
  let testApp: TestApp;
  const clock = new ManualClock();

  beforeAll(async () => {
    testApp = await createTestApp(backend, { clock, env: { PRIVGATE_THROTTLE_PER_ACCOUNT: '5', PRIVGATE_THROTTLE_PER_ADDRESS: '10', PRIVGATE_THROTTLE_WINDOW: '300' } });
  });
  afterAll(async () => testApp?.close());

  it('30 password grants with wrong Basic client credentials and a real username do not lock that client out; the address is throttled', async () => {
    const { credentials } = await tokenWith(testApp, []);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 30; attempt += 1) {
      // Half with the real OAuth client id and a guessed secret, half with an OAuth client id nobody holds.
      const basic = attempt % 2 === 0 ? { oauth_client_id: credentials.oauth_client_id, oauth_client_secret: `guess-${attempt}` } : { oauth_client_id: `guess-${attempt}`, oauth_client_secret: 'x' };
      const address = attempt < 20 ? '203.0.113.66' : `203.0.113.${attempt}`;
      statuses.push((await testApp.app.inject({ ...passwordGrantRequest({ ...credentials, ...basic }), remoteAddress: address })).statusCode);
    }
    // The attacker's address reached its limit (10) and was refused; its other addresses got 401.
    expect(statuses.slice(0, 10).every((status) => status === 401)).toBe(true);
    expect(statuses.slice(10, 20).every((status) => status === 429)).toBe(true);
    expect(statuses.slice(20).every((status) => status === 401)).toBe(true);
    const real = await testApp.app.inject({ ...passwordGrantRequest(credentials), remoteAddress: '198.51.100.1' });
    expect(real.statusCode, real.body).toBe(200);
    expect((real.json() as { access_token: string }).access_token).toBeTruthy();
    clock.advance(301);
  });

  it('a web proxy\'s trusted-client id cannot be locked out by password grants with wrong Basic credentials', async () => {
    const db = testApp.app.context.database.db;
    const key = testApp.app.context.secretKey;
    const now = timestamp(clock.now());
    const proxy = { id: crypto.randomUUID(), secret: 'proxy-client-secret', oauth_client_id: crypto.randomUUID(), oauth_client_secret: 'proxy-oauth-secret' };
    await db
      .insertInto('trusted_clients')
      .values({
        id: proxy.id, type: 'ICAP', name: `proxy-${proxy.id}`, permissions: '[]', subnets: '[]', enabled: 1, registered: 1, allow_repeated_registration: 0,
        registration_secret_hash: null, registration_secret_expires: null, oauth_client_id: proxy.oauth_client_id,
        oauth_client_secret_hash: keyedHash(proxy.oauth_client_secret, key), client_secret_hash: keyedHash(proxy.secret, key),
        web_proxy_address: '', web_proxy_port: '', routing_prefix: '', extender_address: '[]', group_id: '', data: '', created: now, updated: now, author: 'test',
      })
      .execute();
    for (let attempt = 0; attempt < 30; attempt += 1) {
      const response = await testApp.app.inject({ ...passwordGrantRequest({ ...proxy, oauth_client_secret: `guess-${attempt}`, secret: 'guess' }), remoteAddress: `192.0.2.${attempt + 1}` });
      expect(response.statusCode).toBe(401);
    }
    expect((await testApp.app.inject({ ...passwordGrantRequest(proxy), remoteAddress: '198.51.100.2' })).statusCode).toBe(200);
    // With the client's own Basic credentials, wrong secrets do count against it.
    for (let attempt = 0; attempt < 5; attempt += 1) {
      expect((await testApp.app.inject({ ...passwordGrantRequest({ ...proxy, secret: `guess-${attempt}` }), remoteAddress: `192.0.2.${attempt + 100}` })).statusCode).toBe(401);
    }
    expect((await testApp.app.inject({ ...passwordGrantRequest(proxy), remoteAddress: '198.51.100.2' })).statusCode).toBe(429);
    clock.advance(301);
  });
});
