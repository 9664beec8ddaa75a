import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JWT_LENGTH, verifyJwt } from '../../src/lib/jwt.js';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../src/services/auth/token-service.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

describe.each(testBackends())('access-token signing on %s', (backend) => {
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
  });
  afterAll(async () => testApp?.close());

  const subject = { type: 'api-client' as const, id: crypto.randomUUID(), name: 'signer', roles: [{ id: 'r1', name: 'role one' }], permissions: ['roles-view' as const] };

  it('mints a standard ES256 JWS that verifies against the published JWKS key', async () => {
    const { token, jti } = await testApp.app.tokens.signAccessToken(subject, 'client-x');
    const [header = ''] = token.split('.');
    const kid = testApp.app.tokens.keys.current.kid;
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({ alg: 'ES256', typ: 'JWT', kid });
    const jwks = (await testApp.app.inject({ method: 'GET', url: '/auth/api/v1/oauth/jwks' })).json().keys as Array<Record<string, string>>;
    const jwk = jwks.find((key) => key.kid === kid);
    expect(jwk).toBeDefined();
    const result = await verifyJwt(token, { keys: new Map([[kid, jwk as { kty: string; crv: string; x: string; y: string }]]), issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, now: new Date(), clockToleranceSeconds: 5 });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.payload).toMatchObject({ sub: subject.id, jti, client_id: 'client-x', typ: 'api-client', roles: subject.roles, permissions: ['roles-view'] });
    // Signatures are randomised (ECDSA): two tokens for the same subject differ.
    expect((await testApp.app.tokens.signAccessToken(subject, 'client-x')).token).not.toBe(token);
  });

  it('refuses claims that would make a token longer than the verifier accepts', async () => {
    const roles = Array.from({ length: 200 }, (_, index) => ({ id: crypto.randomUUID(), name: `role-${index}` }));
    await expect(testApp.app.tokens.signAccessToken({ ...subject, roles }, 'client-x')).rejects.toThrow(RangeError);
    expect(JSON.stringify(roles).length).toBeGreaterThan(MAX_JWT_LENGTH);
  });
});
