import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HotReads } from '../../src/fast-path/hot-reads.js';
import { REVOCATION_PROPAGATION_MS } from '../../src/services/auth/token-service.js';
import { openDatabase, type Database } from '../../src/db/index.js';
import { DEFAULT_SERVICE_OPTIONS, type ServiceOptions } from '../../src/lib/service-options.js';
import { bearer, createTestApp, serviceOptionsWith, tokenWith, type TestApp } from '../helpers/app.js';
import { createTestStorage, testBackends, type TestStorage } from '../helpers/backends.js';

const SEED_URL = '/host-store/api/v1/settings/default_service_options';
const SECTION_URL = '/settings/api/v1/settings/host-store/default_service_options';

interface Exchange {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const options = serviceOptionsWith;

// Hot reads happen in the HTTP server's request event, so these tests talk to a listening node over
// a real socket (app.inject never reaches that event; it always runs the Fastify route).
describe.each(testBackends())('hot reads of the default service options on %s', (backend) => {
  let storage: TestStorage;
  let node: TestApp;
  let agent: http.Agent;
  let port: number;
  let admin: string;
  let manager: string;

  beforeAll(async () => {
    storage = await createTestStorage(backend);
    node = await createTestApp(backend, { storage });
    await node.app.listen({ host: '127.0.0.1', port: 0 });
    port = (node.app.server.address() as AddressInfo).port;
    agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    admin = (await tokenWith(node, 'admin')).token;
    manager = (await tokenWith(node, ['settings-manage'])).token;
  });
  afterAll(async () => {
    agent?.destroy();
    await node?.close();
    await storage?.cleanup();
  });

  const send = (path: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<Exchange> =>
    new Promise((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port, path, method, headers, agent }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
      });
      request.on('error', reject);
      request.end(body);
    });

  /** Sends a request and says whether the hot path answered it. */
  const sendCounted = async (path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) => {
    const before = node.app.hotReads.served;
    const exchange = await send(path, headers, method, body);
    return { ...exchange, hot: node.app.hotReads.served > before };
  };

  /** A token the node has verified once already (the hot path answers only remembered tokens). */
  const warm = async (token: string) => expect((await send(SEED_URL, bearer(token))).status).toBe(200);

  /** Runs `write` on a second database connection (what another node or process would do), then closes it. */
  const throughAnotherConnection = async (write: (other: Database) => Promise<void>): Promise<void> => {
    const other = await openDatabase(storage);
    try {
      await write(other);
    } finally {
      await other.close();
    }
  };

  /** The request went to the route, which refused it with `status` and the PrivX `errorCode`. */
  const expectRefusedByRoute = (exchange: Exchange & { hot: boolean }, status: number, errorCode: string) => {
    expect(exchange.status).toBe(status);
    expect(JSON.parse(exchange.body)).toMatchObject({ error_code: errorCode });
    expect(exchange.hot).toBe(false);
  };

  const put = (value: ServiceOptions) => node.app.inject({ method: 'PUT', url: SECTION_URL, headers: bearer(manager), payload: value as unknown as Record<string, unknown> });

  it('answers a remembered token with exactly what the route answers (body, ETag, headers), on SQLite without Fastify', async () => {
    await warm(admin);
    const hot = await sendCounted(SEED_URL, bearer(admin));
    const routed = await node.app.inject({ method: 'GET', url: SEED_URL, headers: bearer(admin) });
    expect(hot.status).toBe(200);
    expect(hot.body).toBe(routed.body);
    expect(JSON.parse(hot.body)).toEqual(DEFAULT_SERVICE_OPTIONS);
    for (const name of ['etag', 'content-type', 'content-length', 'cache-control']) expect(hot.headers[name]).toBe(routed.headers[name]);
    expect(hot.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(hot.headers['x-request-id']).not.toBe(routed.headers['x-request-id']);
    // On PostgreSQL the read has to wait, so the route serves it.
    expect(hot.hot).toBe(backend === 'sqlite');
  });

  it('answers the new value and ETag right after a PUT, also after a PUT of the same value', async () => {
    await warm(admin);
    const wanted = options((value) => {
      value.web.clipboard = false;
      value.db.max_bytes_upload = 4096;
    });
    const first = await put(wanted);
    expect(first.statusCode).toBe(200);
    const afterFirst = await sendCounted(SEED_URL, bearer(admin));
    expect(JSON.parse(afterFirst.body)).toEqual(wanted);
    expect(afterFirst.headers.etag).toBe(first.headers.etag);

    const again = await put(wanted);
    expect(again.headers.etag).not.toBe(first.headers.etag);
    const afterAgain = await sendCounted(SEED_URL, bearer(admin));
    expect(JSON.parse(afterAgain.body)).toEqual(wanted);
    expect(afterAgain.headers.etag).toBe(again.headers.etag);
    expect([afterFirst.hot, afterAgain.hot]).toEqual(backend === 'sqlite' ? [true, true] : [false, false]);
  });

  it('answers a change written through another database connection (another node or process) on the next request', async () => {
    await warm(admin);
    const before = await sendCounted(SEED_URL, bearer(admin));
    const written = options((value) => (value.ssh.x11 = false));
    let version = 0;
    await throughAnotherConnection(async (other) => {
      const current = await other.db.selectFrom('settings').select('version').where('scope', '=', 'host-store').where('section', '=', 'default_service_options').executeTakeFirst();
      version = (current?.version ?? 0) + 1;
      await other.db
        .insertInto('settings')
        .values({ scope: 'host-store', section: 'default_service_options', value: JSON.stringify(written), version, updated: new Date().toISOString(), updated_by: 'test' })
        .onConflict((conflict) => conflict.columns(['scope', 'section']).doUpdateSet({ value: JSON.stringify(written), version }))
        .execute();
    });
    const after = await sendCounted(SEED_URL, bearer(admin));
    expect(JSON.parse(after.body)).toEqual(written);
    expect(after.headers.etag).toBe(`"${version}"`);
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect(after.hot).toBe(backend === 'sqlite');
  });

  it.each([
    ['no token', {}, 'GET', undefined, SEED_URL, 401],
    ['a garbage token', { authorization: 'Bearer not-a-token' }, 'GET', undefined, SEED_URL, 401],
    ['a query string', 'admin', 'GET', undefined, `${SEED_URL}?fields=all`, 200],
    ['a trailing slash', 'admin', 'GET', undefined, `${SEED_URL}/`, 200],
    ['a body', 'admin', 'GET', '{}', SEED_URL, 200],
    ['another method', 'admin', 'DELETE', undefined, SEED_URL, 404],
  ] as const)('leaves a request with %s to the route, which answers it as always', async (_name, headers, method, body, path, status) => {
    await warm(admin);
    const framing: Record<string, string> = body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {};
    const sent: Record<string, string> = headers === 'admin' ? { ...bearer(admin), ...framing } : { ...headers };
    const exchange = await sendCounted(path, sent, method, body);
    const routed = await node.app.inject({ method, url: path, headers: sent, ...(body ? { payload: body } : {}) });
    expect(exchange.status).toBe(status);
    expect(routed.statusCode).toBe(status);
    expect(JSON.parse(exchange.body)).toEqual(JSON.parse(routed.body));
    expect(exchange.hot).toBe(false);
  });

  it('leaves a token without the permission to the route, which answers 403 PERMISSION_DENIED', async () => {
    const viewer = (await tokenWith(node, ['users-view'])).token;
    expect((await send(SEED_URL, bearer(viewer))).status).toBe(403);
    expectRefusedByRoute(await sendCounted(SEED_URL, bearer(viewer)), 403, 'PERMISSION_DENIED');
  });

  it('refuses a token on the request after its logout, though the hot path answered it just before', async () => {
    const { token } = await tokenWith(node, ['hosts-manage']);
    await warm(token);
    const accepted = await sendCounted(SEED_URL, bearer(token));
    expect(accepted.status).toBe(200);
    expect(accepted.hot).toBe(backend === 'sqlite');
    expect((await node.app.inject({ method: 'POST', url: '/auth/api/v1/logout', headers: bearer(token) })).statusCode).toBe(200);
    expectRefusedByRoute(await sendCounted(SEED_URL, bearer(token)), 401, 'INVALID_TOKEN');
  });

  it('reads a token’s revocation state again once it is over the propagation bound old, and refuses a revocation another node committed', async () => {
    const { token } = await tokenWith(node, ['hosts-manage']);
    await warm(token);
    const pause = () => new Promise((resolve) => setTimeout(resolve, REVOCATION_PROPAGATION_MS + 50));
    await pause();
    // The remembered answer is stale now: SQLite reads it again without waiting and stays on the hot path.
    const rechecked = await sendCounted(SEED_URL, bearer(token));
    expect(rechecked.status).toBe(200);
    expect(rechecked.hot).toBe(backend === 'sqlite');
    const { jti } = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { jti: string };
    await throughAnotherConnection(async (other) => {
      await other.db.insertInto('token_revocations').values({ key: `jti:${jti}`, issued_before: null, expires: new Date(Date.now() + 3_600_000).toISOString() }).execute();
    });
    await pause();
    expectRefusedByRoute(await sendCounted(SEED_URL, bearer(token)), 401, 'INVALID_TOKEN');
    expect((await send(SEED_URL, bearer(admin))).status).toBe(200);
  });

  it('writes the same two request lines at level info as the route does, bound to the response’s request id', async () => {
    await warm(admin);
    const hot = await sendCounted(SEED_URL, bearer(admin));
    const routed = await send(`${SEED_URL}?via=route`, bearer(admin));
    const linesOf = (id: unknown) =>
      node.logs
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.reqId === id)
        .map(({ time: _time, pid: _pid, hostname: _hostname, responseTime, req, ...rest }) => ({
          ...rest,
          ...(req ? { req: { ...(req as Record<string, unknown>), url: SEED_URL } } : {}),
          responseTime: typeof responseTime,
          reqId: 'id',
        }));
    // Give the 'finish' listener its turn.
    await new Promise((resolve) => setImmediate(resolve));
    expect(linesOf(hot.headers['x-request-id'])).toHaveLength(2);
    expect(linesOf(hot.headers['x-request-id'])).toEqual(linesOf(routed.headers['x-request-id']));
  });

  it('is attached to this one route, which has no hook besides the request stamp and the authentication guard', () => {
    // The hot path answers in place of the route's hooks: a hook added to the route later must be
    // added there too (or the route must stop declaring hotRead). This test is the reminder.
    const routes = node.app.printRoutes({ includeHooks: true, commonPrefix: false }).split('\n');
    const at = routes.findIndex((line) => line.includes(`${SEED_URL} (GET)`));
    expect(at).toBeGreaterThanOrEqual(0);
    const hooks = routes.slice(at + 1).filter((line, index, all) => line.includes('•') && all.slice(0, index).every((earlier) => earlier.includes('•')));
    expect(hooks.map((line) => line.replace(/^[│\s]+/, ''))).toEqual(['• (onRequest) ["stampResponse()","authenticate()"]']);
  });
});

/** The stand-in for Fastify's handler in the tests of HotReads on its own. */
function toRoute(_request: http.IncomingMessage, response: http.ServerResponse): void {
  response.writeHead(599, { 'content-length': 5 });
  response.end('route');
}

/** A plain HTTP server whose requests go through `hot`, then to {@link toRoute}. */
async function listenWith(hot: HotReads) {
  const server = http.createServer((request, response) => hot.serve(request, response, toRoute));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const get = (path: string, authorization: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path, headers: { authorization } }, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  /**
   * Sends one raw GET of each of `paths` on a fresh connection of its own and blocks this process
   * until all of them are in the server's socket buffers, so the server reads them in one
   * event-loop turn. Resolves with each connection's raw response.
   */
  const getTogether = async (paths: string[], authorization: string): Promise<string[]> => {
    const sockets = await Promise.all(
      paths.map(() => new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
        socket.on('error', reject);
      })),
    );
    // Let the server accept them all before the requests go out.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const responses = sockets.map(
      (socket) =>
        new Promise<string>((resolve) => {
          let text = '';
          socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
          socket.on('end', () => resolve(text));
        }),
    );
    for (const [index, socket] of sockets.entries()) socket.write(`GET ${paths[index]} HTTP/1.1\r\nHost: test\r\nAuthorization: ${authorization}\r\nConnection: close\r\n\r\n`);
    const until = Date.now() + 100;
    while (Date.now() < until) {
      // Busy: the requests reach the server's sockets while its event loop cannot run.
    }
    return Promise.all(responses);
  };
  return { get, getTogether, close: () => new Promise((resolve) => server.close(resolve)) };
}

const quietLog = (logs: string[] = []) => pino({ level: 'warn' }, { write: (line: string) => logs.push(line) });

describe('HotReads on its own', () => {
  it('leaves a request to the next handler when the reader or the token check throws, instead of failing the connection', async () => {
    const logs: string[] = [];
    const access = (header: string | undefined): boolean => {
      if (header === 'Bearer throw') throw new Error('token store closed');
      return header === 'Bearer ok';
    };
    const hot = new HotReads({ access, requestId: () => 'id', log: quietLog(logs) });
    hot.add('/broken', ['admin'], () => {
      throw new Error('database closed');
    });
    hot.add('/fine', ['admin'], () => ({ body: '{"a":1}', etag: '"7"' }));
    const { get, close } = await listenWith(hot);
    try {
      expect(await get('/broken', 'Bearer ok')).toEqual({ status: 599, body: 'route' });
      expect(await get('/fine', 'Bearer throw')).toEqual({ status: 599, body: 'route' });
      expect(await get('/fine', 'Bearer other')).toEqual({ status: 599, body: 'route' });
      expect(await get('/fine', 'Bearer ok')).toEqual({ status: 200, body: '{"a":1}' });
      expect(hot.served).toBe(1);
      hot.close();
      expect(await get('/fine', 'Bearer ok')).toEqual({ status: 599, body: 'route' });
      expect(logs).toEqual([]);
    } finally {
      await close();
    }
  });

  it('answers requests that arrived in one event-loop turn with one read per route made after all of them, and reads again for a later request', async () => {
    let reads = 0;
    let otherReads = 0;
    const hot = new HotReads({ access: (header) => header === 'Bearer ok', requestId: () => 'id', log: quietLog() });
    hot.add('/counted', ['admin'], () => {
      reads += 1;
      return { body: `{"read":${reads}}`, etag: `"${reads}"` };
    });
    hot.add('/other', ['admin'], () => {
      otherReads += 1;
      return { body: `{"other":${otherReads}}`, etag: `"${otherReads}"` };
    });
    const { get, getTogether, close } = await listenWith(hot);
    try {
      const together = await getTogether(['/counted', '/other', '/counted', '/other', '/counted'], 'Bearer ok');
      for (const response of together) expect(response).toMatch(/^HTTP\/1\.1 200 /);
      expect(together.map((response) => response.slice(response.indexOf('\r\n\r\n') + 4))).toEqual(['{"read":1}', '{"other":1}', '{"read":1}', '{"other":1}', '{"read":1}']);
      expect([reads, otherReads, hot.reads]).toEqual([1, 1, 2]);
      expect(hot.served).toBe(5);
      // A request that arrives after that read gets a read of its own.
      expect(await get('/counted', 'Bearer ok')).toEqual({ status: 200, body: '{"read":2}' });
      expect(reads).toBe(2);
    } finally {
      await close();
    }
  });

  it('hands every request of the turn to the next handler when the reader has no answer now', async () => {
    const hot = new HotReads({ access: (header) => header === 'Bearer ok', requestId: () => 'id', log: quietLog() });
    hot.add('/later', ['admin'], () => undefined);
    const { getTogether, close } = await listenWith(hot);
    try {
      const together = await getTogether(['/later', '/later', '/later'], 'Bearer ok');
      for (const response of together) expect(response).toMatch(/^HTTP\/1\.1 599 [^]*\r\n\r\nroute$/);
      expect(hot.served).toBe(0);
      expect(hot.reads).toBe(1);
    } finally {
      await close();
    }
  });
});
