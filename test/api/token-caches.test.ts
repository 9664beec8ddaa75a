import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timestamp } from '../../src/lib/time.js';
import { REVOCATION_PROPAGATION_MS } from '../../src/services/auth/token-service.js';
import { bearer, createTestApp, tokenWith, type TestApp } from '../helpers/app.js';

const PROBE = '/role-store/api/v1/roles';
/** Must match VERIFIED_CACHE_SIZE in token-service.ts. */
const VERIFIED_CACHE_SIZE = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What a node remembers about tokens (token-service.ts): verified tokens and revocation answers,
 * in bounded least-recently-used caches. The cache saves work only: it never lets a token through
 * that the full check would refuse. SQLite only: `checkRemembered` answers without waiting there.
 */
describe('the token caches (SQLite)', () => {
  let testApp: TestApp;
  /** Added to the real time by the app's clock. */
  let offsetMs = 0;
  beforeAll(async () => {
    testApp = await createTestApp('sqlite', { clock: { now: () => new Date(Date.now() + offsetMs) } });
  });
  afterAll(async () => testApp?.close());

  const tokens = () => testApp.app.tokens;
  const status = async (token: string) => (await testApp.app.inject({ method: 'GET', url: PROBE, headers: bearer(token) })).statusCode;

  it('does not accept a remembered token once it has expired', async () => {
    offsetMs = 0;
    const { token } = await tokenWith(testApp, ['roles-view']);
    expect(await status(token)).toBe(200);
    expect(tokens().checkRemembered(token)).toMatchObject({ ok: true });
    const ttlMs = testApp.config.accessTokenTtlSeconds * 1000;
    // Shortly before exp it is still remembered and good…
    offsetMs = ttlMs - 10_000;
    expect(tokens().checkRemembered(token)).toMatchObject({ ok: true });
    expect(await status(token)).toBe(200);
    // …past exp (and the clock tolerance) the cache no longer answers, and the full check refuses it.
    offsetMs = ttlMs + 6_000;
    expect(tokens().checkRemembered(token)).toBeUndefined();
    expect(await tokens().check(token)).toMatchObject({ ok: false });
    expect(await status(token)).toBe(401);
    // Nor does the cache take it back once it has been refused.
    expect(tokens().checkRemembered(token)).toBeUndefined();
    offsetMs = 0;
  });

  it('a local revocation wins over a remembered token at once', async () => {
    const { token } = await tokenWith(testApp, ['roles-view']);
    expect(await status(token)).toBe(200);
    const check = await tokens().check(token);
    if (!check.ok) throw new Error(check.reason);
    await tokens().revokeAccessToken(check.principal.jti, check.principal.expiresAt);
    expect(tokens().checkRemembered(token)).toEqual({ ok: false, reason: 'revoked' });
    expect(await status(token)).toBe(401);

    const other = await tokenWith(testApp, ['roles-view']);
    expect(await status(other.token)).toBe(200);
    await tokens().revokePrincipal('api-client', other.credentials.id);
    expect(tokens().checkRemembered(other.token)).toEqual({ ok: false, reason: 'revoked' });
    expect(await status(other.token)).toBe(401);
  });

  it('a revocation made elsewhere wins over a remembered token within the propagation bound', async () => {
    const { token, credentials } = await tokenWith(testApp, ['roles-view']);
    expect(await status(token)).toBe(200);
    expect(tokens().checkRemembered(token)).toMatchObject({ ok: true });
    // Written to the database only, as another node would.
    const now = new Date(testApp.app.context.clock.now().getTime() + 1);
    await testApp.app.context.database.db
      .insertInto('token_revocations')
      .values({ key: `sub:api-client:${credentials.id}`, issued_before: timestamp(now), expires: timestamp(new Date(now.getTime() + 3_600_000)) })
      .execute();
    await sleep(REVOCATION_PROPAGATION_MS + 50);
    expect(tokens().checkRemembered(token)).toEqual({ ok: false, reason: 'revoked' });
    expect(await status(token)).toBe(401);
  });

  it('evicts the least recently used verified token, not the first one verified', { timeout: 120_000 }, async () => {
    const { credentials } = await tokenWith(testApp, ['roles-view']);
    const subject = { type: 'api-client' as const, id: credentials.id, name: 'lru', roles: [], permissions: [] };
    const mint = async (count: number): Promise<string[]> => {
      const minted: string[] = [];
      for (let start = 0; start < count; start += 200) {
        const batch = Array.from({ length: Math.min(200, count - start) }, () => tokens().signAccessToken(subject, 'privx-ui'));
        for (const { token } of await Promise.all(batch)) minted.push(token);
      }
      return minted;
    };
    const verify = async (batch: string[]) => {
      for (let start = 0; start < batch.length; start += 200) {
        const results = await Promise.all(batch.slice(start, start + 200).map((token) => tokens().check(token)));
        expect(results.every((result) => result.ok)).toBe(true);
      }
    };
    const [first, ...rest] = await mint(VERIFIED_CACHE_SIZE + 1);
    const filling = rest.slice(0, VERIFIED_CACHE_SIZE - 1);
    const last = rest[VERIFIED_CACHE_SIZE - 1]!;
    // A cache full of fresh entries: `first`, then the others. Using `first` again makes the
    // second token verified the least recently used one. The first three are verified one by one:
    // a batch enters the cache in the order its checks complete, which load can shuffle.
    for (const token of [first!, filling[0]!, filling[1]!]) await verify([token]);
    await verify(filling.slice(2));
    expect(tokens().checkRemembered(first!)).toMatchObject({ ok: true });
    await verify([last]);
    expect(tokens().checkRemembered(first!)).toMatchObject({ ok: true });
    expect(tokens().checkRemembered(last)).toMatchObject({ ok: true });
    expect(tokens().checkRemembered(filling[1]!)).toMatchObject({ ok: true });
    expect(tokens().checkRemembered(filling[0]!)).toBeUndefined();
    // Forgotten is not refused: the full check verifies it again.
    expect(await tokens().check(filling[0]!)).toMatchObject({ ok: true });
  });
});
