import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyedHash } from '../../src/lib/secrets.js';
import { ManualClock } from '../../src/lib/time.js';
import { bearer, createTestApp, envelope, passwordGrantRequest, tokenWith, type ClientCredentials, type TestApp } from '../helpers/app.js';
import { createTestStorage, testBackends } from '../helpers/backends.js';

const PROTECTED = '/role-store/api/v1/roles';

function refreshRequest(token: string, extra: Record<string, string> = {}) {
  return {
    method: 'POST' as const,
    url: '/auth/api/v1/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, ...extra }).toString(),
  };
}

/** Flips one character of the token's payload or MAC part, keeping it well-formed. */
function altered(token: string, where: 'payload' | 'mac'): string {
  const index = where === 'mac' ? token.length - 5 : 10;
  const replacement = token[index] === 'A' ? 'B' : 'A';
  return `${token.slice(0, index)}${replacement}${token.slice(index + 1)}`;
}

describe.each(testBackends())('self-contained refresh tokens on %s', (backend) => {
  let testApp: TestApp;
  let credentials: ClientCredentials;
  const clock = new ManualClock();
  const db = () => testApp.app.context.database.db;
  const usedRows = async () => (await db().selectFrom('refresh_tokens').select('id').execute()).length;
  const grant = async () => (await testApp.app.inject(passwordGrantRequest(credentials))).json() as { access_token: string; refresh_token: string };

  beforeAll(async () => {
    testApp = await createTestApp(backend, { clock });
    ({ credentials } = await tokenWith(testApp, 'admin'));
  });
  afterAll(async () => testApp?.close());

  it('issuing tokens writes nothing; redeeming a refresh token records it once and rotates it', async () => {
    const before = await usedRows();
    const first = await grant();
    expect(await usedRows()).toBe(before);
    const second = await testApp.app.inject(refreshRequest(first.refresh_token));
    expect(second.statusCode).toBe(200);
    const body = second.json();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 300 });
    expect(body.refresh_token).not.toBe(first.refresh_token);
    expect((await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(body.access_token) })).statusCode).toBe(200);
    const rows = await db().selectFrom('refresh_tokens').selectAll().where('token_hash', '=', keyedHash(first.refresh_token, testApp.app.context.secretKey)).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.used).not.toBeNull();
    // Only the hash of the redeemed token is stored, never the token.
    expect(JSON.stringify(rows)).not.toContain(first.refresh_token);
  });

  it('two redemptions racing with one refresh token: exactly one wins and the family dies', async () => {
    const first = await grant();
    const answers = await Promise.all([0, 1, 2, 3].map(() => testApp.app.inject(refreshRequest(first.refresh_token))));
    const statuses = answers.map((answer) => answer.statusCode).sort();
    expect(statuses).toEqual([200, 400, 400, 400]);
    const winner = answers.find((answer) => answer.statusCode === 200)?.json() as { refresh_token: string };
    // The successor belongs to the revoked family.
    const late = await testApp.app.inject(refreshRequest(winner.refresh_token));
    expect(late.statusCode).toBe(400);
    expect(envelope(late)).toMatchObject({ error_code: 'INVALID_GRANT', property: 'refresh_token' });
  });

  it('a refresh token with an altered payload or MAC, or of another installation, is INVALID_GRANT and changes nothing', async () => {
    const { refresh_token: token } = await grant();
    const before = await usedRows();
    const revocationsBefore = (await db().selectFrom('token_revocations').select('key').execute()).length;
    const foreign = (() => {
      const [prefix = '', payload = ''] = token.split('.');
      const mac = crypto.createHmac('sha256', crypto.randomBytes(32)).update(`${prefix}.${payload}`).digest('base64url');
      return `${prefix}.${payload}.${mac}`;
    })();
    for (const attempt of [altered(token, 'payload'), altered(token, 'mac'), foreign, `${token}x`, 'rt1.e30.AAAA', 'not-a-token']) {
      const response = await testApp.app.inject(refreshRequest(attempt));
      expect(response.statusCode, attempt).toBe(400);
      expect(envelope(response).error_code).toBe('INVALID_GRANT');
    }
    expect(await usedRows()).toBe(before);
    expect((await db().selectFrom('token_revocations').select('key').execute()).length).toBe(revocationsBefore);
    // The genuine token is untouched by the attempts.
    expect((await testApp.app.inject(refreshRequest(token))).statusCode).toBe(200);
  });

  it('a refresh token presented with another client_id is rejected', async () => {
    const { refresh_token: token } = await grant();
    const response = await testApp.app.inject(refreshRequest(token, { client_id: 'privx-ui' }));
    expect(response.statusCode).toBe(400);
    expect(envelope(response).error_code).toBe('INVALID_GRANT');
    expect((await testApp.app.inject(refreshRequest(token, { client_id: credentials.oauth_client_id }))).statusCode).toBe(200);
  });

  it('an expired refresh token is rejected', async () => {
    const { refresh_token: token } = await grant();
    clock.advance(testApp.config.refreshTokenTtlSeconds + 1);
    const response = await testApp.app.inject(refreshRequest(token));
    expect(response.statusCode).toBe(400);
    expect(envelope(response).error_code).toBe('INVALID_GRANT');
  });

  it('/oauth/revoke with a refresh token revokes its family, including tokens rotated from it', async () => {
    const first = await grant();
    const rotated = (await testApp.app.inject(refreshRequest(first.refresh_token))).json() as { refresh_token: string };
    const revoke = await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/oauth/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${encodeURIComponent(first.refresh_token)}` });
    expect(revoke.statusCode).toBe(200);
    expect((await testApp.app.inject(refreshRequest(rotated.refresh_token))).statusCode).toBe(400);
    // Another family of the same client is unaffected.
    expect((await testApp.app.inject(refreshRequest((await grant()).refresh_token))).statusCode).toBe(200);
  });

  it('a principal revocation kills refresh tokens issued before it, not those issued after', async () => {
    const before = await grant();
    clock.advance(1);
    await testApp.app.tokens.revokePrincipal('api-client', credentials.id);
    clock.advance(1);
    const after = await grant();
    expect((await testApp.app.inject(refreshRequest(before.refresh_token))).statusCode).toBe(400);
    expect((await testApp.app.inject(refreshRequest(after.refresh_token))).statusCode).toBe(200);
  });

  it('a refresh for a deleted API client is rejected', async () => {
    const { token: adminToken } = await tokenWith(testApp, 'admin');
    const victim = await tokenWith(testApp, []);
    const { refresh_token: token } = (await testApp.app.inject(passwordGrantRequest(victim.credentials))).json() as { refresh_token: string };
    const deleted = await testApp.app.inject({ method: 'DELETE', url: `/local-user-store/api/v1/api-clients/${victim.credentials.id}`, headers: bearer(adminToken) });
    expect(deleted.statusCode).toBe(200);
    expect((await testApp.app.inject(refreshRequest(token))).statusCode).toBe(400);
  });
});

describe.each(testBackends())('refresh-token reuse across nodes on %s', (backend) => {
  it('a refresh token redeemed on node A and replayed on node B revokes the family on both', async () => {
    const storage = await createTestStorage(backend);
    const nodeA = await createTestApp(backend, { storage });
    const nodeB = await createTestApp(backend, { storage });
    try {
      const { credentials } = await tokenWith(nodeA, []);
      const first = (await nodeA.app.inject(passwordGrantRequest(credentials))).json() as { refresh_token: string };
      const rotated = await nodeA.app.inject(refreshRequest(first.refresh_token));
      expect(rotated.statusCode).toBe(200);
      const replay = await nodeB.app.inject(refreshRequest(first.refresh_token));
      expect(replay.statusCode).toBe(400);
      expect(envelope(replay).error_code).toBe('INVALID_GRANT');
      expect((await nodeA.app.inject(refreshRequest((rotated.json() as { refresh_token: string }).refresh_token))).statusCode).toBe(400);
    } finally {
      await nodeA.close();
      await nodeB.close();
      await storage.cleanup();
    }
  });
});
