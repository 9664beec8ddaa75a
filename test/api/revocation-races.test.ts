import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timestamp } from '../../src/lib/time.js';
import { inTransaction } from '../../src/services/role-store/use-cases.js';
import { bearer, createTestApp, passwordGrantRequest, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';
import { AUTHORIZER, createWebHost } from '../helpers/web-sessions.js';

const STATUS_PROBE = '/role-store/api/v1/roles';

/**
 * The two windows a revocation used to leave open: a token minted (or a web session opened) from
 * the old state after the revocation was written but before the change that carries it committed
 * or reached this node.
 */
describe.each(testBackends())('revocations and requests in flight, on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
  });
  afterAll(async () => testApp?.close());

  const db = () => testApp.app.context.database.db;

  it('a token granted while the revoking transaction is still open is revoked once it commits', async () => {
    const { credentials } = await tokenWith(testApp, ['roles-view']);
    let minted = '';
    await inTransaction({ db: db(), tokens: testApp.app.tokens }, async (trx) => {
      await testApp.app.tokens.revokePrincipal('api-client', credentials.id, trx);
      // Another connection still sees the client as it was: its grant succeeds, and the token
      // postdates the revocation written above.
      await new Promise((resolve) => setTimeout(resolve, 5));
      const grant = await testApp.app.inject(passwordGrantRequest(credentials));
      expect(grant.statusCode, grant.body).toBe(200);
      minted = (grant.json() as { access_token: string }).access_token;
      await new Promise((resolve) => setTimeout(resolve, 5));
    });
    const response = await testApp.app.inject({ method: 'GET', url: STATUS_PROBE, headers: bearer(minted) });
    expect(response.statusCode, response.body).toBe(401);
    // A token granted after the commit is good.
    const fresh = (await testApp.app.inject(passwordGrantRequest(credentials))).json() as { access_token: string };
    expect((await testApp.app.inject({ method: 'GET', url: STATUS_PROBE, headers: bearer(fresh.access_token) })).statusCode).toBe(200);
  });

  it('a web session cannot be opened with a token revoked after the guard remembered it', async () => {
    const hostId = await createWebHost(testApp, admin);
    const user = await tokenWith(testApp, ['web-access']);
    // The node now remembers the token as good (for up to a second).
    expect((await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/sessions`, headers: bearer(user.token), payload: { host_id: hostId, principal: 'alice' } })).statusCode).toBe(201);
    // Revoked as another node would do it: in the database only, so this node's guard still passes it.
    const now = new Date(Date.now() + 1);
    await db()
      .insertInto('token_revocations')
      .values({ key: `sub:api-client:${user.credentials.id}`, issued_before: timestamp(now), expires: timestamp(new Date(now.getTime() + 3_600_000)) })
      .execute();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const sessionsBefore = await db().selectFrom('web_sessions').select('id').where('user_id', '=', user.credentials.id).execute();
    const response = await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/sessions`, headers: bearer(user.token), payload: { host_id: hostId, principal: 'alice' } });
    expect(response.statusCode, response.body).toBe(401);
    expect(response.json()).toMatchObject({ error_code: 'INVALID_TOKEN' });
    expect(await db().selectFrom('web_sessions').select('id').where('user_id', '=', user.credentials.id).execute()).toEqual(sessionsBefore);
  });
});
