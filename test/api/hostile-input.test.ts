import net from 'node:net';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandlerPlugin } from '../../src/plugins/error-handler.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../src/plugins/request-parsing.js';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';

const HOSTS = '/host-store/api/v1/hosts';

/** `{"a":{"a":…1…}}` nested `depth` levels. */
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const nestedArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** Sends raw bytes to a listening app and returns what came back before it closed the connection. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes, 'latin1'));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', (error) => (answer ? resolve(answer) : reject(error)));
  });
}

describe('nestsDeeperThan', () => {
  it('counts arrays and objects, not brackets inside strings (escaped quotes included)', () => {
    expect(nestsDeeperThan(nestedArrays(5), 5)).toBe(false);
    expect(nestsDeeperThan(nestedArrays(6), 5)).toBe(true);
    expect(nestsDeeperThan(nestedObjects(6), 5)).toBe(true);
    expect(nestsDeeperThan(`{"a":"${'['.repeat(100)}","b":"\\"${'{'.repeat(100)}"}`, 5)).toBe(false);
    expect(nestsDeeperThan(`[${'[],'.repeat(1000)}[]]`, 5)).toBe(false);
  });
});

describe('the error handler', () => {
  it('answers the envelope even when rendering the error itself throws', async () => {
    const app = Fastify();
    await app.register(errorHandlerPlugin);
    app.get('/boom', async () => {
      const error = new Error('boom');
      Object.defineProperty(error, 'validation', {
        get() {
          throw new TypeError('getter throws');
        },
      });
      throw error;
    });
    await app.ready();
    const response = await app.inject({ method: 'GET', url: '/boom' });
    expect(response.statusCode).toBe(500);
    expect(envelope(response)).toEqual({ error_code: 'GENERAL_ERROR', error_message: 'internal server error' });
    await app.close();
  });
});

describe.each(testBackends())('hostile input on %s', (backend) => {
  let testApp: TestApp;
  let token: string;
  const db = () => testApp.app.context.database.db;
  const hostCount = async () => Number((await db().selectFrom('hosts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const send = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: string) =>
    testApp.app.inject({ method, url, headers: { ...bearer(token), 'content-type': 'application/json' }, ...(payload === undefined ? {} : { payload }) });

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    token = (await tokenWith(testApp, 'admin')).token;
  });
  afterAll(async () => testApp?.close());

  it.each([5_000, 20_000])('a host body nested %i deep inside an undeclared property is 400 VALUE_OUT_OF_BOUNDS on create and update, and changes nothing', async (depth) => {
    const created = await send('POST', HOSTS, JSON.stringify({ common_name: `deep-${depth}.example.com` }));
    expect(created.statusCode, created.body).toBe(201);
    const id = (created.json() as { id: string }).id;
    const before = await send('GET', `${HOSTS}/${id}`);
    const hosts = await hostCount();
    for (const body of [`{"common_name":"x","extra":${nestedArrays(depth)}}`, `{"common_name":"x","extra":${nestedObjects(depth)}}`]) {
      for (const [method, url] of [['POST', HOSTS], ['PUT', `${HOSTS}/${id}`]] as const) {
        const response = await send(method, url, body);
        expect(response.statusCode, `${method} ${response.body}`).toBe(400);
        expect(envelope(response)).toEqual({ error_code: 'VALUE_OUT_OF_BOUNDS', error_message: `request body nests deeper than ${MAX_JSON_DEPTH} levels` });
      }
    }
    expect(await hostCount()).toBe(hosts);
    expect((await send('GET', `${HOSTS}/${id}`)).body).toBe(before.body);
  });

  it('a body nesting within the bound is still accepted', async () => {
    const response = await send('POST', HOSTS, `{"common_name":"nested.example.com","extra":${nestedObjects(MAX_JSON_DEPTH - 2)}}`);
    expect(response.statusCode, response.body).toBe(201);
  });

  it('a URL that is not valid percent-encoding is 400 BAD_REQUEST in the envelope, with the request id', async () => {
    for (const url of [`${HOSTS}/%zz`, `${HOSTS}/%E0%A4%A`, `${HOSTS}/%`]) {
      const response = await send('GET', url);
      expect(response.statusCode, url).toBe(400);
      expect(envelope(response)).toEqual({ error_code: 'BAD_REQUEST', error_message: 'the URL is not valid percent-encoding' });
      expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.headers['cache-control']).toBe('no-store');
    }
  });

  it('a path parameter beyond the router limit is 414 VALUE_OUT_OF_BOUNDS in the envelope; within it, the schema bound answers 400', async () => {
    const tooLong = await send('GET', `${HOSTS}/${'a'.repeat(600)}`);
    expect(tooLong.statusCode).toBe(414);
    expect(envelope(tooLong)).toEqual({ error_code: 'VALUE_OUT_OF_BOUNDS', error_message: 'a path parameter is too long' });
    const longId = await send('GET', `${HOSTS}/${'a'.repeat(300)}`);
    expect(longId.statusCode).toBe(400);
    expect(envelope(longId).error_code).toBe('VALUE_OUT_OF_BOUNDS');
  });

  it('a 404 for an unknown route does not echo a 10 KB path', async () => {
    const response = await send('GET', `/host-store/api/v1/${'x'.repeat(10_000)}`);
    expect(response.statusCode).toBe(404);
    expect(envelope(response).error_message.length).toBeLessThan(300);
  });

  it('a value outside an enumeration names the allowed values, once, without the per-branch noise', async () => {
    const wrongName = await send('POST', HOSTS, JSON.stringify({ common_name: 'e.example.com', services: [{ service: 'FOO', address: 'a', port: 22 }] }));
    expect(wrongName.statusCode).toBe(400);
    expect(envelope(wrongName)).toEqual({ error_code: 'INVALID_REQUEST_DATA', error_message: 'services[0].service must be one of SSH, RDP, VNC, WEB, DB', property: 'services[0].service' });
    const wrongType = await send('POST', HOSTS, JSON.stringify({ common_name: 'e.example.com', services: [{ service: 5, address: 'a', port: 22 }] }));
    expect(envelope(wrongType)).toEqual({ error_code: 'VALUE_INCORRECT_TYPE', error_message: 'services[0].service must be one of SSH, RDP, VNC, WEB, DB', property: 'services[0].service' });
    const query = await send('GET', `${HOSTS}?sortdir=up`);
    expect(envelope(query)).toEqual({ error_code: 'INVALID_REQUEST_DATA', error_message: 'querystring sortdir must be one of asc, desc, ASC, DESC', property: 'sortdir' });
  });

  it('a union of other kinds reports the one meaningful failure: the type names, or the failure inside the branch that fits', async () => {
    const notArray = await send('POST', HOSTS, JSON.stringify({ common_name: 'u.example.com', tags: 'prod' }));
    expect(envelope(notArray)).toEqual({ error_code: 'VALUE_INCORRECT_TYPE', error_message: 'tags must be array or null', property: 'tags' });
    const badItem = await send('POST', HOSTS, JSON.stringify({ common_name: 'u.example.com', tags: ['prod', 7] }));
    expect(envelope(badItem)).toEqual({ error_code: 'VALUE_INCORRECT_TYPE', error_message: 'tags[1] must be string', property: 'tags[1]' });
  });

  it('a request Node’s HTTP parser refuses gets the envelope on the wire before the connection closes', async () => {
    await testApp.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (testApp.app.server.address() as net.AddressInfo).port;
    for (const bytes of [
      'GET /auth/api/v1/status HTTP/1.1\r\nHost: x\r\nX-Evil: a\u0001b\r\n\r\n',
      'GET /auth/api/v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n',
    ]) {
      const answer = await rawExchange(port, bytes);
      expect(answer, JSON.stringify(bytes)).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
      expect(JSON.parse(body)).toEqual({ error_code: 'BAD_REQUEST', error_message: 'the request is not valid HTTP' });
    }
    const tooLarge = await rawExchange(port, `GET /auth/api/v1/status HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(tooLarge).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(tooLarge.slice(tooLarge.indexOf('\r\n\r\n') + 4))).toMatchObject({ error_code: 'PAYLOAD_TOO_LARGE' });
    // Plain HTTP (--insecure-http) says so in its listening line.
    expect(testApp.logs.some((line) => line.includes(`Server listening at http://127.0.0.1:${port}`))).toBe(true);
  });
});
