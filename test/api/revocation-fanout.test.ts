import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebPolicy } from '../../src/lib/web-policy.js';
import { POLICY_PROPAGATION_MS } from '../../src/services/authorizer/icap-policy.js';
import { bearer, createTestApp, passwordGrantRequest, tokenWith, twoNodesOnOneDatabase, type ClientCredentials, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';
import { createWebHost, openWebSession, POLICY, readPolicy, registeredProxyToken, userLogin } from '../helpers/web-sessions.js';

const USERS = '/local-user-store/api/v1/users';
const ROLES = '/role-store/api/v1/roles';
const PASSWORD = 'a long enough user password 1';

describe.each(testBackends())('revoking a principal revokes the web sessions it opened, through the policy feed, on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  let proxy: string;
  let hostId: string;
  let webRole: string;

  const db = () => testApp.app.context.database.db;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
    proxy = await registeredProxyToken(testApp, admin, 'fanout-proxy');
    hostId = await createWebHost(testApp, admin);
    const role = await testApp.app.inject({ method: 'POST', url: ROLES, headers: bearer(admin), payload: { name: 'web users', permissions: ['web-access'] } });
    expect(role.statusCode, role.body).toBe(201);
    webRole = (role.json() as { id: string }).id;
  });
  afterAll(async () => testApp?.close());

  /** A local user in the web-access role, logged in through the console flow. */
  async function webUser(): Promise<{ id: string; username: string; token: string }> {
    const username = `user-${crypto.randomUUID().slice(0, 8)}`;
    const created = await testApp.app.inject({ method: 'POST', url: USERS, headers: bearer(admin), payload: { username, password: PASSWORD, roles: [{ id: webRole }] } });
    expect(created.statusCode, created.body).toBe(201);
    return { id: (created.json() as { id: string }).id, username, token: await userLogin(testApp, username, PASSWORD) };
  }

  async function revokedInDatabase(sessionId: string): Promise<boolean> {
    const row = await db().selectFrom('web_sessions').select('revoked').where('id', '=', sessionId).executeTakeFirstOrThrow();
    return row.revoked !== null;
  }

  /**
   * Runs `revoke` while a web proxy's long-poll waits on the feed, and checks that the long-poll is
   * woken with a document listing exactly the `doomed` sessions as newly revoked (and not `spared`),
   * and that the rows say so too.
   */
  async function expectFeedRevokes(revoke: () => Promise<void>, doomed: string[], spared: string[]): Promise<WebPolicy> {
    const before = await readPolicy(testApp, proxy);
    for (const id of [...doomed, ...spared]) {
      expect(before.policy.revoked_sessions).not.toContain(id);
      expect(await revokedInDatabase(id)).toBe(false);
    }
    const waiting = testApp.app.inject({ method: 'GET', url: `${POLICY}?wait=20`, headers: { ...bearer(proxy), 'if-none-match': before.etag } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await revoke();
    const woken = await waiting;
    expect(woken.statusCode).toBe(200);
    const policy = woken.json() as WebPolicy;
    expect(policy.version).toBeGreaterThan(before.policy.version);
    for (const id of doomed) {
      expect(policy.revoked_sessions).toContain(id);
      expect(await revokedInDatabase(id)).toBe(true);
    }
    for (const id of spared) {
      expect(policy.revoked_sessions).not.toContain(id);
      expect(await revokedInDatabase(id)).toBe(false);
    }
    return policy;
  }

  it('logout revokes every live web session the principal opened (with any of its tokens), and nobody else’s', async () => {
    const user = await webUser();
    const secondLogin = await userLogin(testApp, user.username, PASSWORD);
    const other = await webUser();
    const first = await openWebSession(testApp, user.token, hostId, 'alice');
    const second = await openWebSession(testApp, secondLogin, hostId, 'bob');
    const others = await openWebSession(testApp, other.token, hostId, 'alice');
    await expectFeedRevokes(
      async () => expect((await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/logout', headers: bearer(user.token) })).statusCode).toBe(200),
      [first.session_id, second.session_id],
      [others.session_id],
    );
    // The logout and its audit event committed together.
    const audit = await db().selectFrom('audit_events').select('type').where('type', '=', 'logout').where('principal_id', '=', user.id).execute();
    expect(audit).toHaveLength(1);
    // Tokens of the logged-out principal are gone; opening a new session needs a new login.
    expect((await testApp.app.inject({ method: 'POST', url: '/authorizer/api/v1/icap/sessions', headers: bearer(secondLogin), payload: { host_id: hostId, principal: 'alice' } })).statusCode).toBe(401);
    const fresh = await openWebSession(testApp, await userLogin(testApp, user.username, PASSWORD), hostId);
    expect(await revokedInDatabase(fresh.session_id)).toBe(false);
  });

  it('deleting the user revokes its web sessions', async () => {
    const user = await webUser();
    const session = await openWebSession(testApp, user.token, hostId);
    await expectFeedRevokes(async () => expect((await testApp.app.inject({ method: 'DELETE', url: `${USERS}/${user.id}`, headers: bearer(admin) })).statusCode).toBe(200), [session.session_id], []);
  });

  it('disabling the user revokes its web sessions', async () => {
    const user = await webUser();
    const session = await openWebSession(testApp, user.token, hostId);
    await expectFeedRevokes(
      async () => {
        const disabled = await testApp.app.inject({ method: 'PUT', url: `${USERS}/${user.id}`, headers: bearer(admin), payload: { username: user.username, disabled: true, roles: [{ id: webRole }] } });
        expect(disabled.statusCode, disabled.body).toBe(200);
      },
      [session.session_id],
      [],
    );
  });

  it('removing the user from the role that let it open the session revokes the session', async () => {
    const user = await webUser();
    const session = await openWebSession(testApp, user.token, hostId);
    await expectFeedRevokes(async () => expect((await testApp.app.inject({ method: 'DELETE', url: `${ROLES}/${webRole}/members/${user.id}`, headers: bearer(admin) })).statusCode).toBe(200), [session.session_id], []);
  });

  it('taking web-access away from a role revokes its members’ web sessions', async () => {
    const role = (await testApp.app.inject({ method: 'POST', url: ROLES, headers: bearer(admin), payload: { name: `web ${crypto.randomUUID()}`, permissions: ['web-access'] } })).json() as { id: string };
    const username = `user-${crypto.randomUUID().slice(0, 8)}`;
    const created = await testApp.app.inject({ method: 'POST', url: USERS, headers: bearer(admin), payload: { username, password: PASSWORD, roles: [{ id: role.id }] } });
    expect(created.statusCode, created.body).toBe(201);
    const session = await openWebSession(testApp, await userLogin(testApp, username, PASSWORD), hostId);
    await expectFeedRevokes(
      async () => expect((await testApp.app.inject({ method: 'PUT', url: `${ROLES}/${role.id}`, headers: bearer(admin), payload: { name: `no web ${role.id}`, permissions: ['roles-view'] } })).statusCode).toBe(200),
      [session.session_id],
      [],
    );
  });

  it('deleting an API client revokes the web sessions it opened', async () => {
    const client: { token: string; credentials: ClientCredentials } = await tokenWith(testApp, ['web-access']);
    const session = await openWebSession(testApp, client.token, hostId);
    await expectFeedRevokes(
      async () => expect((await testApp.app.inject({ method: 'DELETE', url: `/local-user-store/api/v1/api-clients/${client.credentials.id}`, headers: bearer(admin) })).statusCode).toBe(200),
      [session.session_id],
      [],
    );
    expect((await testApp.app.inject(passwordGrantRequest(client.credentials))).statusCode).toBe(401);
  });

  it('a principal revocation that ends no web session leaves the policy version alone (no needless wake-ups)', async () => {
    const { etag } = await readPolicy(testApp, proxy);
    const user = await webUser();
    expect((await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/logout', headers: bearer(user.token) })).statusCode).toBe(200);
    expect((await testApp.app.inject({ method: 'GET', url: POLICY, headers: { ...bearer(proxy), 'if-none-match': etag } })).statusCode).toBe(304);
  });

  it('a revocation written in a caller’s transaction that rolls back revokes nothing', async () => {
    const user = await webUser();
    const session = await openWebSession(testApp, user.token, hostId);
    const { etag } = await readPolicy(testApp, proxy);
    await expect(
      db()
        .transaction()
        .execute(async (trx) => {
          await testApp.app.tokens.revokePrincipal('user', user.id, trx);
          throw new Error('the caller’s change failed');
        }),
    ).rejects.toThrow('the caller’s change failed');
    expect(await revokedInDatabase(session.session_id)).toBe(false);
    expect(await db().selectFrom('token_revocations').select('key').where('key', '=', `sub:user:${user.id}`).execute()).toEqual([]);
    expect((await testApp.app.inject({ method: 'GET', url: POLICY, headers: { ...bearer(proxy), 'if-none-match': etag } })).statusCode).toBe(304);
  });
});

describe.each(testBackends())('a principal revoked on one node reaches a web proxy long-polling another on %s', (backend) => {
  const nodes = twoNodesOnOneDatabase(backend);

  it(`a logout on node B wakes the long-poll held by node A with the session revoked, within ${POLICY_PROPAGATION_MS} ms`, async () => {
    const admin = (await tokenWith(nodes.a, 'admin')).token;
    const proxy = await registeredProxyToken(nodes.a, admin, 'two-node-fanout-proxy');
    const hostId = await createWebHost(nodes.a, admin);
    const user = await tokenWith(nodes.b, ['web-access']);
    const session = await openWebSession(nodes.b, user.token, hostId);
    const before = await readPolicy(nodes.a, proxy);
    expect(before.policy.revoked_sessions).not.toContain(session.session_id);
    const waiting = nodes.a.app.inject({ method: 'GET', url: `${POLICY}?wait=20`, headers: { ...bearer(proxy), 'if-none-match': before.etag } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await nodes.b.app.inject({ method: 'POST', url: '/auth/api/v1/logout', headers: bearer(user.token) })).statusCode).toBe(200);
    const answered = performance.now();
    const woken = await waiting;
    const elapsed = performance.now() - answered;
    expect(woken.statusCode).toBe(200);
    expect((woken.json() as WebPolicy).revoked_sessions).toContain(session.session_id);
    // Scheduling slack on a busy machine on top of the stated bound.
    expect(elapsed).toBeLessThanOrEqual(POLICY_PROPAGATION_MS + 700);
  });
});
