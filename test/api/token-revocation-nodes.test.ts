import { beforeAll, describe, expect, it } from 'vitest';
import { REVOCATION_PROPAGATION_MS } from '../../src/services/auth/token-service.js';
import { bearer, passwordGrantRequest, tokenWith, twoNodesOnOneDatabase, type ClientCredentials, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const PROTECTED = '/role-store/api/v1/roles';
// Scheduling slack on a busy CI machine on top of the documented bound.
const SLACK_MS = 700;

async function status(node: TestApp, token: string): Promise<number> {
  return (await node.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(token) })).statusCode;
}

/** Milliseconds until `node` answers 401 for `token` (polling), or Infinity after `limit` ms. */
async function msUntilRejected(node: TestApp, token: string, limit: number): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < limit) {
    if ((await status(node, token)) === 401) return performance.now() - start;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return Number.POSITIVE_INFINITY;
}

describe.each(testBackends())('revocation across two nodes on one database on %s', (backend) => {
  const nodes = twoNodesOnOneDatabase(backend);
  let admin: string;

  beforeAll(async () => {
    admin = (await tokenWith(nodes.a, 'admin')).token;
  });

  async function freshClient(): Promise<{ token: string; credentials: ClientCredentials }> {
    return tokenWith(nodes.a, ['roles-view']);
  }

  it(`a logout on node A is honoured by A at once and by B within ${REVOCATION_PROPAGATION_MS} ms, though B had just accepted the token`, async () => {
    const { token } = await freshClient();
    expect(await status(nodes.a, token)).toBe(200);
    expect(await status(nodes.b, token)).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await nodes.a.app.inject({ method: 'POST', url: '/auth/api/v1/logout', headers: bearer(token) })).statusCode).toBe(200);
    expect(await status(nodes.a, token)).toBe(401);
    const elapsed = await msUntilRejected(nodes.b, token, REVOCATION_PROPAGATION_MS + SLACK_MS);
    expect(elapsed).toBeLessThanOrEqual(REVOCATION_PROPAGATION_MS + SLACK_MS);
    // Stays rejected on both.
    expect(await status(nodes.a, token)).toBe(401);
    expect(await status(nodes.b, token)).toBe(401);
  });

  it('an access token revoked through /oauth/revoke on node B is rejected by B at once and by A within the bound', async () => {
    const { token } = await freshClient();
    expect(await status(nodes.a, token)).toBe(200);
    expect(await status(nodes.b, token)).toBe(200);
    const revoke = await nodes.b.app.inject({ method: 'POST', url: '/auth/api/v1/oauth/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${token}` });
    expect(revoke.statusCode).toBe(200);
    expect(await status(nodes.b, token)).toBe(401);
    expect(await msUntilRejected(nodes.a, token, REVOCATION_PROPAGATION_MS + SLACK_MS)).toBeLessThanOrEqual(REVOCATION_PROPAGATION_MS + SLACK_MS);
  });

  it('a role change on node A (which revokes the member’s tokens) reaches node B within the bound; a new token works on both', async () => {
    const { token, credentials } = await freshClient();
    expect(await status(nodes.b, token)).toBe(200);
    const change = await nodes.a.app.inject({ method: 'PUT', url: `/local-user-store/api/v1/api-clients/${credentials.id}`, headers: bearer(admin), payload: { name: `renamed-${credentials.id}`, roles: [] } });
    expect(change.statusCode, change.body).toBe(200);
    expect(await status(nodes.a, token)).toBe(401);
    expect(await msUntilRejected(nodes.b, token, REVOCATION_PROPAGATION_MS + SLACK_MS)).toBeLessThanOrEqual(REVOCATION_PROPAGATION_MS + SLACK_MS);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const renewed = (await nodes.b.app.inject(passwordGrantRequest(credentials))).json() as { access_token: string };
    // No roles any more: authenticated but not allowed.
    expect(await status(nodes.a, renewed.access_token)).toBe(403);
    expect(await status(nodes.b, renewed.access_token)).toBe(403);
  });

  it('a token revoked before a node ever saw it is rejected by that node at once', async () => {
    const { token } = await freshClient();
    expect((await nodes.a.app.inject({ method: 'POST', url: '/auth/api/v1/logout', headers: bearer(token) })).statusCode).toBe(200);
    expect(await status(nodes.b, token)).toBe(401);
  });

  it('a revocation that overlaps a check in flight on the revoking node is still honoured at once there', async () => {
    const { token } = await freshClient();
    expect(await status(nodes.a, token)).toBe(200);
    // Let the remembered answer age out so the next checks go to the database, and revoke meanwhile.
    await new Promise((resolve) => setTimeout(resolve, REVOCATION_PROPAGATION_MS + 50));
    const inFlight = Promise.all([status(nodes.a, token), status(nodes.a, token), status(nodes.a, token)]);
    const logout = nodes.a.app.inject({ method: 'POST', url: '/auth/api/v1/logout', headers: bearer(token) });
    await inFlight;
    expect((await logout).statusCode).toBe(200);
    expect(await status(nodes.a, token)).toBe(401);
  });
});
