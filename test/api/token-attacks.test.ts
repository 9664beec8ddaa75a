import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { signJwt } from '../../src/lib/jwt.js';
import { ManualClock } from '../../src/lib/time.js';
import { UNKNOWN_KID_RELOAD_INTERVAL_MS } from '../../src/services/auth/signing-keys.js';
import { bearer, createTestApp, envelope, passwordGrantRequest, tokenWith, type ClientCredentials, type TestApp } from '../helpers/app.js';
import { createTestStorage, testBackends, type TestStorage } from '../helpers/backends.js';

const PROTECTED = '/role-store/api/v1/roles';

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe.each(testBackends())('token attacks on %s', (backend) => {
  let testApp: TestApp;
  let token: string;
  let credentials: ClientCredentials;
  let claims: Record<string, unknown>;
  let header: Record<string, unknown>;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    ({ token, credentials } = await tokenWith(testApp, 'admin'));
    const [h = '', p = ''] = token.split('.');
    header = JSON.parse(Buffer.from(h, 'base64url').toString());
    claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  });
  afterAll(async () => testApp?.close());

  /** Sign `payload` with the installation's real current key: only the claims are wrong. */
  function signedWithRealKey(payload: Record<string, unknown>): Promise<string> {
    return signJwt(payload, testApp.app.tokens.keys.current);
  }

  async function expectRejectedAndAudited(name: string, attack: string, reason?: string): Promise<void> {
    const db = testApp.app.context.database.db;
    const before = await db.selectFrom('audit_events').select('id').where('type', '=', 'access_token_rejected').execute();
    const response = await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(attack) });
    expect(response.statusCode, name).toBe(401);
    expect(envelope(response).error_code).toBe('INVALID_TOKEN');
    const after = await db.selectFrom('audit_events').selectAll().where('type', '=', 'access_token_rejected').orderBy('seq', 'desc').execute();
    expect(after.length, `${name} audited`).toBe(before.length + 1);
    if (reason) expect(JSON.parse(after[0]?.details ?? '{}').reason, name).toBe(reason);
  }

  it('alg none is rejected and audited', async () => {
    await expectRejectedAndAudited('none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`);
    await expectRejectedAndAudited('none-signed', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.AAAA`, 'algorithm');
  });

  it('HS256 signed with the public key as the HMAC secret is rejected and audited', async () => {
    const jwks = (await testApp.app.inject({ method: 'GET', url: '/auth/api/v1/oauth/jwks' })).json().keys as Array<Record<string, string>>;
    const publicPem = crypto.createPublicKey({ key: jwks[0] as crypto.JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: header.kid })}.${b64(claims)}`;
    const signature = crypto.createHmac('sha256', publicPem).update(input).digest('base64url');
    await expectRejectedAndAudited('hs256', `${input}.${signature}`, 'algorithm');
  });

  it('expired, not-yet-valid, wrong issuer, wrong audience and unknown kid are rejected and audited', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejectedAndAudited('expired', await signedWithRealKey({ ...claims, iat: now - 1000, exp: now - 600 }), 'expired');
    await expectRejectedAndAudited('nbf', await signedWithRealKey({ ...claims, nbf: now + 600 }), 'not_yet_valid');
    await expectRejectedAndAudited('issuer', await signedWithRealKey({ ...claims, iss: 'evil' }), 'issuer');
    await expectRejectedAndAudited('audience', await signedWithRealKey({ ...claims, aud: 'other' }), 'audience');
    const unknownKid = await signJwt(claims, { kid: 'no-such-kid', privateKey: testApp.app.tokens.keys.current.privateKey });
    await expectRejectedAndAudited('kid', unknownKid, 'unknown_key');
  });

  it('a revoked token (by jti, through /oauth/revoke) is rejected and audited', async () => {
    const fresh = (await testApp.app.inject(passwordGrantRequest(credentials))).json().access_token as string;
    expect((await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(fresh) })).statusCode).toBe(200);
    const revoke = await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/oauth/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${fresh}` });
    expect(revoke.statusCode).toBe(200);
    await expectRejectedAndAudited('revoked', fresh, 'revoked');
    // The other token of the same client is untouched.
    expect((await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(token) })).statusCode).toBe(200);
  });

  it('the audit trail of rejected tokens is bounded per address', async () => {
    const db = testApp.app.context.database.db;
    const before = (await db.selectFrom('audit_events').select('id').where('type', '=', 'access_token_rejected').execute()).length;
    for (let attempt = 0; attempt < 40; attempt += 1) {
      const response = await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer('x.y.z'), remoteAddress: '203.0.113.9' });
      expect(response.statusCode).toBe(401);
    }
    const after = (await db.selectFrom('audit_events').select('id').where('type', '=', 'access_token_rejected').execute()).length;
    expect(after - before).toBeLessThanOrEqual(20);
    expect(after - before).toBeGreaterThan(0);
  });
});

/**
 * A token with an unknown kid may carry a key another node has just rotated to, so it makes the
 * node reload its keys — but at most once per UNKNOWN_KID_RELOAD_INTERVAL_MS, so a flood of
 * garbage kids costs one database read per interval rather than one per request.
 */
describe.each(testBackends())('unknown kids on %s', (backend) => {
  let storage: TestStorage;
  let nodeA: TestApp;
  let nodeB: TestApp;
  let adminOnB: string;
  const clock = new ManualClock();
  const interval = UNKNOWN_KID_RELOAD_INTERVAL_MS / 1000;

  beforeAll(async () => {
    storage = await createTestStorage(backend);
    nodeA = await createTestApp(backend, { storage, clock });
    nodeB = await createTestApp(backend, { storage, clock });
    adminOnB = (await tokenWith(nodeB, 'admin')).token;
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await nodeA?.close();
    await nodeB?.close();
    await storage?.cleanup();
  });

  /** A well-formed token signed with a real key under a kid nobody has. */
  function randomKidToken(node: TestApp): Promise<string> {
    const now = Math.floor(clock.now().getTime() / 1000);
    const claims = { iss: 'privgate', aud: 'privgate-api', sub: 'x', jti: crypto.randomUUID(), iat: now, exp: now + 60 };
    return signJwt(claims, { kid: crypto.randomUUID(), privateKey: node.app.tokens.keys.current.privateKey });
  }

  async function rotateOnB(): Promise<string> {
    const rotate = await nodeB.app.inject({ method: 'POST', url: '/auth/api/v1/keys/rotate', headers: bearer(adminOnB) });
    expect(rotate.statusCode, rotate.body).toBe(200);
    return (rotate.json() as { kid: string }).kid;
  }

  function kidOf(token: string): unknown {
    return JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()).kid;
  }

  it('a key rotated on node B is accepted on node A by the first token that carries it', async () => {
    const kid = await rotateOnB();
    const { token } = await tokenWith(nodeB, []);
    expect(kidOf(token)).toBe(kid);
    // 403: the token is accepted (it holds no role for this route).
    expect((await nodeA.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(token) })).statusCode).toBe(403);
  });

  it('60 requests with random unknown kids, 30 of them at once, reload the keys once per interval', async () => {
    clock.advance(interval);
    const load = vi.spyOn(nodeA.app.tokens.keys, 'load');
    const request = async () => nodeA.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(await randomKidToken(nodeA)), remoteAddress: '203.0.113.77' });
    const responses = await Promise.all(Array.from({ length: 30 }, request));
    for (let attempt = 0; attempt < 30; attempt += 1) responses.push(await request());
    expect(responses.every((response) => response.statusCode === 401 && envelope(response).error_code === 'INVALID_TOKEN')).toBe(true);
    expect(load).toHaveBeenCalledTimes(1);
    clock.advance(interval - 1);
    expect((await request()).statusCode).toBe(401);
    expect(load).toHaveBeenCalledTimes(1);
    clock.advance(1);
    expect((await request()).statusCode).toBe(401);
    expect(load).toHaveBeenCalledTimes(2);
    load.mockRestore();
  });

  it('right after such a reload, a key rotated on node B is refused on node A until the interval has passed', async () => {
    // The previous test's last reload happened at this instant: within the interval, memory answers.
    const kid = await rotateOnB();
    const { token } = await tokenWith(nodeB, []);
    expect(kidOf(token)).toBe(kid);
    expect((await nodeA.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(token) })).statusCode).toBe(401);
    clock.advance(interval);
    expect((await nodeA.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(token) })).statusCode).toBe(403);
  });
});
