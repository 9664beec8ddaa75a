import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { ManualClock, addSeconds, timestamp } from '../../src/lib/time.js';
import { REVOKED_SESSION_MARGIN_SECONDS, revokedWebSessionIds } from '../../src/services/authorizer/repository.js';
import { PURGE_GRACE_SECONDS, purgeExpired } from '../../src/services/housekeeping.js';
import { MAX_REFRESH_TOKEN_TTL_SECONDS } from '../../src/services/settings/registry.js';
import { recordAuditEvent } from '../../src/services/monitor-service/audit-log.js';
import { bearer, createTestApp, passwordGrantRequest, tokenWith, type TestApp } from '../helpers/app.js';
import { createTestStorage, testBackends, type TestStorage } from '../helpers/backends.js';

const PROTECTED = '/role-store/api/v1/roles';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe.each(testBackends())('housekeeping of expired security rows on %s', (backend) => {
  const opened: Array<{ close(): Promise<unknown> }> = [];
  afterEach(async () => {
    for (const item of opened.splice(0).reverse()) await item.close();
  });

  async function node(clock: ManualClock, storage?: TestStorage, extra: { housekeepingIntervalMs?: number } = {}): Promise<TestApp> {
    const testApp = await createTestApp(backend, { clock, ...(storage ? { storage } : {}), ...extra });
    opened.push(testApp);
    return testApp;
  }
  async function sharedStorage(): Promise<TestStorage> {
    const storage = await createTestStorage(backend);
    opened.push({ close: () => storage.cleanup() });
    return storage;
  }
  const purge = (testApp: TestApp, clock: ManualClock) =>
    purgeExpired(testApp.app.context.database, clock.now(), { throttleWindowSeconds: testApp.config.throttle.windowSeconds });
  const ago = (clock: ManualClock, seconds: number) => timestamp(addSeconds(clock.now(), -seconds));
  const revocationKeys = async (testApp: TestApp) =>
    (await testApp.app.context.database.db.selectFrom('token_revocations').select('key').execute()).map((row) => row.key);
  const status = async (testApp: TestApp, token: string) =>
    (await testApp.app.inject({ method: 'GET', url: PROTECTED, headers: bearer(token) })).statusCode;
  const refresh = (testApp: TestApp, token: string) =>
    testApp.app.inject({ method: 'POST', url: '/auth/api/v1/oauth/token', headers: FORM, payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }).toString() });

  it('purging removes revocations whose token has expired and keeps live ones; the revoked token stays rejected on every node', async () => {
    const clock = new ManualClock();
    const storage = await sharedStorage();
    const nodeA = await node(clock, storage);
    const { token } = await tokenWith(nodeA, ['roles-view']);
    const jti = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { jti: string }).jti;
    expect((await nodeA.app.inject({ method: 'POST', url: '/auth/api/v1/oauth/revoke', headers: FORM, payload: `token=${token}` })).statusCode).toBe(200);
    const stale = ['jti:stale', 'family:stale', 'sub:user:stale'];
    await nodeA.app.context.database.db
      .insertInto('token_revocations')
      .values(stale.map((key) => ({ key, issued_before: key.startsWith('sub:') ? ago(clock, 9000) : null, expires: ago(clock, PURGE_GRACE_SECONDS + 1) })))
      .execute();
    // Just past its expiry but within the grace: still kept.
    await nodeA.app.context.database.db.insertInto('token_revocations').values({ key: 'jti:recent', issued_before: null, expires: ago(clock, 1) }).execute();

    const counts = await purge(nodeA, clock);
    expect(counts.token_revocations).toBe(3);
    const left = await revocationKeys(nodeA);
    expect(left).toEqual(expect.arrayContaining([`jti:${jti}`, 'jti:recent']));
    for (const key of stale) expect(left).not.toContain(key);

    // A node that never saw the token reads the revocation from the database: still rejected.
    const nodeB = await node(clock, storage);
    expect(await status(nodeB, token)).toBe(401);
    expect(await status(nodeA, token)).toBe(401);

    // Once the token itself has expired (plus the grace), its revocation goes too.
    clock.advance(nodeA.config.accessTokenTtlSeconds + PURGE_GRACE_SECONDS + 1);
    await purge(nodeA, clock);
    expect(await revocationKeys(nodeA)).not.toContain(`jti:${jti}`);
    expect(await status(nodeB, token)).toBe(401);
  });

  it('purging keeps redeemed refresh tokens and family revocations until the tokens expire, so reuse and revocation are still caught', async () => {
    const clock = new ManualClock();
    const testApp = await node(clock);
    const db = testApp.app.context.database.db;
    const { credentials } = await tokenWith(testApp, ['roles-view']);
    const first = (await testApp.app.inject(passwordGrantRequest(credentials))).json() as { refresh_token: string };
    const rotated = await refresh(testApp, first.refresh_token);
    expect(rotated.statusCode).toBe(200);
    const second = (rotated.json() as { refresh_token: string }).refresh_token;
    const other = (await testApp.app.inject(passwordGrantRequest(credentials))).json() as { refresh_token: string };
    expect((await testApp.app.inject({ method: 'POST', url: '/auth/api/v1/oauth/revoke', headers: FORM, payload: `token=${encodeURIComponent(other.refresh_token)}` })).statusCode).toBe(200);
    const familyKeys = async () => (await revocationKeys(testApp)).filter((key) => key.startsWith('family:'));
    expect(await familyKeys()).toHaveLength(1);
    await db
      .insertInto('refresh_tokens')
      .values({ id: 'stale', token_hash: 'stale', family_id: 'f', principal_type: 'user', principal_id: 'u', client_id: 'c', created: ago(clock, 90_000), expires: ago(clock, PURGE_GRACE_SECONDS + 1), used: ago(clock, 80_000), revoked: null })
      .execute();

    expect((await purge(testApp, clock)).refresh_tokens).toBe(1);
    expect((await db.selectFrom('refresh_tokens').select('id').execute()).map((row) => row.id)).not.toContain('stale');
    expect(await db.selectFrom('refresh_tokens').select('id').execute()).toHaveLength(1);
    expect(await familyKeys()).toHaveLength(1);
    // The revoked family is still refused; the redeemed token is still recognised as reused.
    expect((await refresh(testApp, other.refresh_token)).statusCode).toBe(400);
    const reuse = await refresh(testApp, first.refresh_token);
    expect(reuse.statusCode).toBe(400);
    expect(reuse.body).toContain('already used');

    // Past every refresh token's lifetime (plus the grace) nothing of them matters any more: its own
    // lifetime for the redemptions, the longest the settings allow for the family revocation.
    clock.advance(testApp.config.refreshTokenTtlSeconds + 60 + PURGE_GRACE_SECONDS + 1);
    await purge(testApp, clock);
    expect(await db.selectFrom('refresh_tokens').select('id').execute()).toEqual([]);
    // The revoked family and the one revoked for the reuse.
    expect(await familyKeys()).toHaveLength(2);
    clock.advance(MAX_REFRESH_TOKEN_TTL_SECONDS);
    await purge(testApp, clock);
    expect(await db.selectFrom('refresh_tokens').select('id').execute()).toEqual([]);
    expect(await familyKeys()).toEqual([]);
    for (const token of [first.refresh_token, second, other.refresh_token]) expect((await refresh(testApp, token)).statusCode).toBe(400);
  });

  it('purging removes expired login requests, authorization codes, config sessions and old login failures and keeps current ones', async () => {
    const clock = new ManualClock();
    const testApp = await node(clock);
    const db = testApp.app.context.database.db;
    const old = ago(clock, PURGE_GRACE_SECONDS + 1);
    const live = timestamp(addSeconds(clock.now(), 60));
    const created = ago(clock, 3600);
    const user = await db.selectFrom('users').select('id').executeTakeFirstOrThrow();
    for (const [id, expires] of [['old', old], ['live', live]] as const) {
      await db.insertInto('login_requests').values({ token_hash: id, client_id: 'c', redirect_uri: 'r', state: 's', code_challenge: 'x', created, expires, used: null }).execute();
      await db.insertInto('authorization_codes').values({ code_hash: id, user_id: user.id, client_id: 'c', redirect_uri: 'r', code_challenge: 'x', created, expires, used: null }).execute();
    }
    await db
      .insertInto('trusted_clients')
      .values({
        id: 'tc', type: 'ICAP', name: 'proxy', permissions: '[]', subnets: '[]', enabled: 1, registered: 0, allow_repeated_registration: 0,
        registration_secret_hash: null, registration_secret_expires: null, oauth_client_id: null, oauth_client_secret_hash: null, client_secret_hash: null,
        web_proxy_address: '', web_proxy_port: '', routing_prefix: '', extender_address: '[]', group_id: '', data: '', created, updated: created, author: 'test',
      })
      .execute();
    await db.insertInto('icap_conf_sessions').values([
      { id_hash: 'old', trusted_client_id: 'tc', created, expires: old, used: null },
      { id_hash: 'live', trusted_client_id: 'tc', created, expires: live, used: null },
    ]).execute();

    const auditId = await recordAuditEvent(db, { type: 'login_failed', outcome: 'failure', at: addSeconds(clock.now(), -400 * 24 * 3600) });

    const counts = await purge(testApp, clock);
    expect(counts).toMatchObject({ login_requests: 1, authorization_codes: 1, icap_conf_sessions: 1 });
    expect(await db.selectFrom('login_requests').select('token_hash').execute()).toEqual([{ token_hash: 'live' }]);
    expect(await db.selectFrom('authorization_codes').select('code_hash').execute()).toEqual([{ code_hash: 'live' }]);
    expect(await db.selectFrom('icap_conf_sessions').select('id_hash').execute()).toEqual([{ id_hash: 'live' }]);
    // Audit events are never purged, however old.
    expect(await db.selectFrom('audit_events').select('id').where('id', '=', auditId).execute()).toHaveLength(1);
  });

  it('revoked web sessions stay as long as the policy feed lists them past expiry, then are purged', async () => {
    const clock = new ManualClock();
    const testApp = await node(clock);
    const db = testApp.app.context.database.db;
    const session = (id: string, expiredSecondsAgo: number, revoked: boolean) => ({
      id, user_type: 'user', user_id: 'u', user_name: 'u', host_id: 'h', principal: 'p',
      created: ago(clock, expiredSecondsAgo + 3600), expires: ago(clock, expiredSecondsAgo), revoked: revoked ? ago(clock, expiredSecondsAgo + 60) : null,
    });
    await db.insertInto('web_sessions').values([
      session('long-gone', REVOKED_SESSION_MARGIN_SECONDS + PURGE_GRACE_SECONDS + 1, true),
      session('still-listed', REVOKED_SESSION_MARGIN_SECONDS - 10, true),
      session('live', -600, false),
    ]).execute();

    expect((await purge(testApp, clock)).web_sessions).toBe(1);
    expect((await db.selectFrom('web_sessions').select('id').orderBy('id').execute()).map((row) => row.id)).toEqual(['live', 'still-listed']);
    expect(await revokedWebSessionIds(db, clock.now())).toEqual(['still-listed']);
  });

  it('two nodes purging at once in small batches delete every expired row exactly once and nothing else', async () => {
    const clock = new ManualClock();
    const testApp = await node(clock);
    const db = testApp.app.context.database.db;
    const before = await revocationKeys(testApp);
    const expired = Array.from({ length: 600 }, (_, index) => ({ key: `jti:old-${index}`, issued_before: null, expires: ago(clock, PURGE_GRACE_SECONDS + 1 + index) }));
    for (let start = 0; start < expired.length; start += 100) await db.insertInto('token_revocations').values(expired.slice(start, start + 100)).execute();
    await db.insertInto('token_revocations').values({ key: 'jti:live', issued_before: null, expires: timestamp(addSeconds(clock.now(), 300)) }).execute();

    const other = await openDatabase(testApp.storage);
    opened.push(other);
    const options = { throttleWindowSeconds: testApp.config.throttle.windowSeconds, batchSize: 25 };
    const [first, second] = await Promise.all([purgeExpired(testApp.app.context.database, clock.now(), options), purgeExpired(other, clock.now(), options)]);
    // Skipped (locked) rows end a node's run early; a later run picks up anything left.
    const again = await purgeExpired(other, clock.now(), options);
    expect(first.token_revocations + second.token_revocations + again.token_revocations).toBe(expired.length);
    expect((await revocationKeys(testApp)).sort()).toEqual([...before, 'jti:live'].sort());
  });

  it('a node purges on its own timer', async () => {
    const clock = new ManualClock();
    const testApp = await node(clock, undefined, { housekeepingIntervalMs: 50 });
    const db = testApp.app.context.database.db;
    await db.insertInto('token_revocations').values({ key: 'jti:timer', issued_before: null, expires: ago(clock, PURGE_GRACE_SECONDS + 1) }).execute();
    const deadline = Date.now() + 5000;
    const logged = () => testApp.logs.some((line) => line.includes('purged expired rows'));
    while (Date.now() < deadline && !logged()) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(logged()).toBe(true);
    expect(await revocationKeys(testApp)).not.toContain('jti:timer');
  });
});
