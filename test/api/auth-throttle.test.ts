import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/time.js';
import { createTestApp, envelope, passwordGrantRequest, tokenWith, type TestApp } from '../helpers/app.js';
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

  it('an OAuth client id nobody holds still counts as a failure and is throttled', async () => {
    const stranger = { id: 'no-such-account', secret: 'x', oauth_client_id: 'no-such-oauth-client', oauth_client_secret: 'y' };
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect((await nodeA.app.inject({ ...passwordGrantRequest(stranger), remoteAddress: '198.51.100.10' })).statusCode).toBe(401);
    }
    expect((await nodeB.app.inject({ ...passwordGrantRequest(stranger), remoteAddress: '198.51.100.11' })).statusCode).toBe(429);
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
