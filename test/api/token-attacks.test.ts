import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signJwt } from '../../src/lib/jwt.js';
import { bearer, createTestApp, envelope, passwordGrantRequest, tokenWith, type ClientCredentials, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

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
  function signedWithRealKey(payload: Record<string, unknown>): string {
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
    await expectRejectedAndAudited('expired', signedWithRealKey({ ...claims, iat: now - 1000, exp: now - 600 }), 'expired');
    await expectRejectedAndAudited('nbf', signedWithRealKey({ ...claims, nbf: now + 600 }), 'not_yet_valid');
    await expectRejectedAndAudited('issuer', signedWithRealKey({ ...claims, iss: 'evil' }), 'issuer');
    await expectRejectedAndAudited('audience', signedWithRealKey({ ...claims, aud: 'other' }), 'audience');
    const unknownKid = signJwt(claims, { kid: 'no-such-kid', privateKey: testApp.app.tokens.keys.current.privateKey });
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
