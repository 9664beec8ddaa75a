/**
 * The fast path (src/fast-path) changes how an answer is produced, never what it is: the same
 * requests against a node with it on and a node with it off (`PRIVGATE_FAST_PATH=off`) get the same
 * status, the headers that matter and the same body. Over a real socket, since hot reads happen in
 * the server's request event (app.inject never reaches it). Each node has its own database and
 * mints its own tokens; the steps run in the same order on both.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { readsWithoutWaiting } from '../../src/fast-path/index.js';
import { REVOCATION_PROPAGATION_MS } from '../../src/services/auth/token-service.js';
import { bearer, createTestApp, serviceOptionsWith, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const SEED_URL = '/host-store/api/v1/settings/default_service_options';
const SECTION_URL = '/settings/api/v1/settings/host-store/default_service_options';
const SCOPE_URL = '/settings/api/v1/settings/host-store';

/** What must be identical with the fast path on and off (x-request-id is per request: only its presence). */
const COMPARED_HEADERS = ['etag', 'content-type', 'content-length', 'cache-control', 'www-authenticate', 'allow'] as const;

interface Exchange {
  status: number;
  headers: Record<string, string | undefined>;
  hasRequestId: boolean;
  body: string;
}

interface Tokens {
  admin: string;
  manager: string;
  hostsManager: string;
  viewer: string;
  /** Logged out during the run. */
  revoked: string;
}

interface Node {
  testApp: TestApp;
  port: number;
  agent: http.Agent;
  tokens: Tokens;
}

/** One request, described per node (each node has its own tokens). */
type Step = (tokens: Tokens) => { method?: string; path: string; headers?: Record<string, string>; body?: string };

async function startNode(backend: Parameters<typeof createTestApp>[0], env: Record<string, string>): Promise<Node> {
  const testApp = await createTestApp(backend, { env: { PRIVGATE_LOG_LEVEL: 'warn', ...env } });
  await testApp.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (testApp.app.server.address() as AddressInfo).port;
  const tokens: Tokens = {
    admin: (await tokenWith(testApp, 'admin')).token,
    manager: (await tokenWith(testApp, ['settings-manage'])).token,
    hostsManager: (await tokenWith(testApp, ['hosts-manage'])).token,
    viewer: (await tokenWith(testApp, ['users-view'])).token,
    revoked: (await tokenWith(testApp, ['hosts-manage'])).token,
  };
  return { testApp, port, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }), tokens };
}

function send(node: Node, step: Step): Promise<Exchange> {
  const { method = 'GET', path, headers = {}, body } = step(node.tokens);
  const framing: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port: node.port, path, method, headers: { ...headers, ...framing }, agent: node.agent }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: Object.fromEntries(COMPARED_HEADERS.map((name) => [name, response.headers[name] as string | undefined])),
          hasRequestId: typeof response.headers['x-request-id'] === 'string',
          body: text,
        }),
      );
    });
    request.on('error', reject);
    request.end(body);
  });
}

describe.each(testBackends())('the fast path on and off give identical answers on %s', (backend) => {
  let on: Node;
  let off: Node;

  beforeAll(async () => {
    on = await startNode(backend, {});
    off = await startNode(backend, { PRIVGATE_FAST_PATH: 'off' });
  });
  afterAll(async () => {
    for (const node of [on, off]) {
      node?.agent.destroy();
      await node?.testApp.close();
    }
  });

  /** Sends `step` to both nodes (twice when `repeat`: a token's second request is the one the hot path can take) and expects the same exchanges. */
  const same = async (step: Step, repeat = true): Promise<Exchange> => {
    const rounds = repeat ? 2 : 1;
    let last: Exchange | undefined;
    for (let round = 0; round < rounds; round += 1) {
      const fast = await send(on, step);
      const plain = await send(off, step);
      expect(fast).toEqual(plain);
      expect(fast.hasRequestId).toBe(true);
      last = fast;
    }
    return last as Exchange;
  };

  const hotServed = (node: Node) => node.testApp.app.hotReads.served;

  it('the switch is in effect: the node with it off has no synchronous reads and answers nothing before Fastify', async () => {
    expect(readsWithoutWaiting(off.testApp.app.context.database.db)).toBe(false);
    expect(readsWithoutWaiting(on.testApp.app.context.database.db)).toBe(backend === 'sqlite');
    const before = [hotServed(on), hotServed(off)];
    await same((t) => ({ path: SEED_URL, headers: bearer(t.admin) }));
    expect(hotServed(off)).toBe(0);
    // On SQLite the second request of a remembered token is the hot path's; PostgreSQL has none.
    expect(hotServed(on) - (before[0] as number)).toBe(backend === 'sqlite' ? 1 : 0);
  });

  it.each<[string, Step]>([
    ['admin token', (t) => ({ path: SEED_URL, headers: bearer(t.admin) })],
    ['hosts-manage token', (t) => ({ path: SEED_URL, headers: bearer(t.hostsManager) })],
    ['no token', () => ({ path: SEED_URL })],
    ['a garbage token', () => ({ path: SEED_URL, headers: { authorization: 'Bearer not-a-token' } })],
    ['a token without the permission', (t) => ({ path: SEED_URL, headers: bearer(t.viewer) })],
    ['a query string', (t) => ({ path: `${SEED_URL}?fields=all`, headers: bearer(t.admin) })],
    ['a trailing slash', (t) => ({ path: `${SEED_URL}/`, headers: bearer(t.admin) })],
    ['a body', (t) => ({ path: SEED_URL, headers: bearer(t.admin), body: '{}' })],
    ['another method', (t) => ({ method: 'DELETE', path: SEED_URL, headers: bearer(t.admin) })],
    ['HEAD', (t) => ({ method: 'HEAD', path: SEED_URL, headers: bearer(t.admin) })],
    ['the settings section, settings-manage token', (t) => ({ path: SECTION_URL, headers: bearer(t.manager) })],
    ['the settings scope, admin token', (t) => ({ path: SCOPE_URL, headers: bearer(t.admin) })],
    ['the settings section, no token', () => ({ path: SECTION_URL })],
    ['the settings section, a token without the permission', (t) => ({ path: SECTION_URL, headers: bearer(t.hostsManager) })],
  ])('GET with %s', async (_name, step) => {
    await same(step);
  });

  it('If-None-Match with the current and with another ETag', async () => {
    const current = await same((t) => ({ path: SEED_URL, headers: bearer(t.admin) }));
    expect(current.headers.etag).toBeDefined();
    await same((t) => ({ path: SEED_URL, headers: { ...bearer(t.admin), 'if-none-match': current.headers.etag as string } }));
    await same((t) => ({ path: SEED_URL, headers: { ...bearer(t.admin), 'if-none-match': '"nope"' } }));
    await same((t) => ({ path: SECTION_URL, headers: { ...bearer(t.manager), 'if-none-match': current.headers.etag as string } }));
  });

  it('after a write through the API, a write of the same value, and a stale If-Match', async () => {
    const value = JSON.stringify(serviceOptionsWith((options) => {
      options.web.clipboard = false;
      options.db.max_bytes_upload = 4096;
    }));
    const write: Step = (t) => ({ method: 'PUT', path: SECTION_URL, headers: bearer(t.manager), body: value });
    const read: Step = (t) => ({ path: SEED_URL, headers: bearer(t.admin) });
    const before = await same(read);
    await same(write, false);
    const afterWrite = await same(read);
    expect(afterWrite.body).toBe(JSON.stringify(JSON.parse(value)));
    expect(afterWrite.headers.etag).not.toBe(before.headers.etag);
    await same(write, false);
    const afterSame = await same(read);
    expect(afterSame.headers.etag).not.toBe(afterWrite.headers.etag);
    await same((t) => ({ method: 'PUT', path: SECTION_URL, headers: { ...bearer(t.manager), 'if-match': before.headers.etag as string }, body: value }), false);
    await same((t) => ({ path: SECTION_URL, headers: bearer(t.manager) }));
    await same((t) => ({ path: SCOPE_URL, headers: bearer(t.admin) }));
  });

  it('after a write through another database connection (another node or process)', async () => {
    const written = serviceOptionsWith((options) => (options.ssh.x11 = false));
    for (const node of [on, off]) {
      const other = await openDatabase(node.testApp.storage);
      try {
        await other.db
          .updateTable('settings')
          .set({ value: JSON.stringify(written), version: 40, updated: new Date().toISOString(), updated_by: 'test' })
          .where('scope', '=', 'host-store')
          .where('section', '=', 'default_service_options')
          .execute();
      } finally {
        await other.close();
      }
    }
    const after = await same((t) => ({ path: SEED_URL, headers: bearer(t.admin) }));
    expect(after.headers.etag).toBe('"40"');
    expect(JSON.parse(after.body)).toEqual(written);
    await same((t) => ({ path: SECTION_URL, headers: bearer(t.manager) }));
  });

  it('a token on the requests before and after its logout (revoked)', async () => {
    const read: Step = (t) => ({ path: SEED_URL, headers: bearer(t.revoked) });
    expect((await same(read)).status).toBe(200);
    await same((t) => ({ method: 'POST', path: '/auth/api/v1/logout', headers: bearer(t.revoked) }), false);
    expect((await same(read)).status).toBe(401);
    // Past the propagation bound, when the remembered revocation state is read again.
    await new Promise((resolve) => setTimeout(resolve, REVOCATION_PROPAGATION_MS + 50));
    expect((await same(read)).status).toBe(401);
    expect((await same((t) => ({ path: SEED_URL, headers: bearer(t.admin) }))).status).toBe(200);
  });

  it('compared hot answers, not only Fastify’s: the node with the fast path on answered many of these requests before Fastify (SQLite)', () => {
    if (backend === 'sqlite') expect(hotServed(on)).toBeGreaterThanOrEqual(15);
    else expect(hotServed(on)).toBe(0);
    expect(hotServed(off)).toBe(0);
  });
});
