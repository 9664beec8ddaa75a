import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REVOCATION_PROPAGATION_MS } from '../../src/services/auth/token-service.js';
import { bearer, createTestApp, envelope, passwordGrantRequest, tokenWith, twoNodesOnOneDatabase, type ClientCredentials, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const PROTECTED = '/role-store/api/v1/roles';
// Scheduling slack on a busy machine on top of the documented bound (as in token-revocation-nodes).
const SLACK_MS = 700;

type Tokens = { access_token: string; refresh_token: string };

function refreshRequest(token: string) {
  return {
    method: 'POST' as const,
    url: '/auth/api/v1/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString(),
  };
}

async function status(node: TestApp, token: string): Promise<number> {
  return (await node.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(token) })).statusCode;
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe.each(testBackends())('a revoked refresh-token family takes its access tokens with it on %s', (backend) => {
  let testApp: TestApp;
  let credentials: ClientCredentials;
  const grant = async () => (await testApp.app.inject(passwordGrantRequest(credentials))).json() as Tokens;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    ({ credentials } = await tokenWith(testApp, ['roles-view']));
  });
  afterAll(async () => testApp?.close());

  it('reusing a rotated refresh token → 400, and the access tokens of before and of the rotation get 401 at once', async () => {
    const first = await grant();
    const rotation = await testApp.app.inject(refreshRequest(first.refresh_token));
    expect(rotation.statusCode).toBe(200);
    const rotated = rotation.json() as Tokens;
    // Both work (and this node remembers them as valid) until the reuse.
    expect(await status(testApp, first.access_token)).toBe(200);
    expect(await status(testApp, rotated.access_token)).toBe(200);
    // Another family of the same principal is not affected.
    const unrelated = await grant();
    expect(await status(testApp, unrelated.access_token)).toBe(200);

    const reuse = await testApp.app.inject(refreshRequest(first.refresh_token));
    expect(reuse.statusCode).toBe(400);
    expect(envelope(reuse)).toMatchObject({ error_code: 'INVALID_GRANT', property: 'refresh_token' });

    expect(await status(testApp, first.access_token)).toBe(401);
    expect(await status(testApp, rotated.access_token)).toBe(401);
    expect((await testApp.app.inject(refreshRequest(rotated.refresh_token))).statusCode).toBe(400);
    expect(await status(testApp, unrelated.access_token)).toBe(200);
    // The reuse and the revocation were recorded together.
    const audit = await testApp.app.context.database.db.selectFrom('audit_events').select('details').where('type', '=', 'refresh_token_reused').where('principal_id', '=', credentials.id).execute();
    expect(audit).toHaveLength(1);
  });

  it('access tokens name their refresh-token family; /oauth/revoke of the refresh token revokes them too', async () => {
    const first = await grant();
    const rotated = (await testApp.app.inject(refreshRequest(first.refresh_token))).json() as Tokens;
    expect(claimsOf(first.access_token).fam).toEqual(expect.any(String));
    expect(claimsOf(rotated.access_token).fam).toBe(claimsOf(first.access_token).fam);
    expect(await status(testApp, rotated.access_token)).toBe(200);
    const revoke = await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/oauth/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${encodeURIComponent(rotated.refresh_token)}` });
    expect(revoke.statusCode).toBe(200);
    expect(await status(testApp, first.access_token)).toBe(401);
    expect(await status(testApp, rotated.access_token)).toBe(401);
  });

  it('a family revocation does not touch an access token without a family', async () => {
    const loose = await testApp.app.tokens.signAccessToken({ type: 'api-client', id: credentials.id, name: 'loose', roles: [], permissions: ['roles-view'] }, 'test');
    expect(claimsOf(loose.token).fam).toBeUndefined();
    expect(await status(testApp, loose.token)).toBe(200);
    const first = await grant();
    await testApp.app.inject(refreshRequest(first.refresh_token));
    expect((await testApp.app.inject(refreshRequest(first.refresh_token))).statusCode).toBe(400);
    expect(await status(testApp, first.access_token)).toBe(401);
    expect(await status(testApp, loose.token)).toBe(200);
  });
});

describe.each(testBackends())('refresh-token reuse on one node reaches the access tokens on another on %s', (backend) => {
  const nodes = twoNodesOnOneDatabase(backend);

  it(`node B refuses the family's access tokens within ${REVOCATION_PROPAGATION_MS} ms of the reuse on node A, though it had just accepted them`, async () => {
    const { credentials } = await tokenWith(nodes.a, ['roles-view']);
    const first = (await nodes.a.app.inject(passwordGrantRequest(credentials))).json() as Tokens;
    const rotated = (await nodes.a.app.inject(refreshRequest(first.refresh_token))).json() as Tokens;
    expect(await status(nodes.b, first.access_token)).toBe(200);
    expect(await status(nodes.b, rotated.access_token)).toBe(200);
    expect((await nodes.a.app.inject(refreshRequest(first.refresh_token))).statusCode).toBe(400);
    expect(await status(nodes.a, rotated.access_token)).toBe(401);
    const start = performance.now();
    let elapsed = Number.POSITIVE_INFINITY;
    while (performance.now() - start < REVOCATION_PROPAGATION_MS + SLACK_MS) {
      if ((await status(nodes.b, first.access_token)) === 401 && (await status(nodes.b, rotated.access_token)) === 401) {
        elapsed = performance.now() - start;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(elapsed).toBeLessThanOrEqual(REVOCATION_PROPAGATION_MS + SLACK_MS);
  });
});
