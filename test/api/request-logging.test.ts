import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferredChildLogger, redactUrl } from '../../src/logging.js';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, tokenWith, type TestApp } from '../helpers/app.js';

const SETTINGS_URL = '/host-store/api/v1/settings/default_service_options';

describe('log lines of hostile requests', () => {
  it('a query key that is not valid percent-encoding has its value masked, and never throws', () => {
    expect(redactUrl('/auth/api/v1/status?%=1')).toBe('/auth/api/v1/status?%=[redacted]');
    expect(redactUrl('/x?tok%zzen=abc&a=%FF&%C0%AE=2&to%6Ben=s&code=c&plain=1')).toBe('/x?tok%zzen=[redacted]&a=%FF&%C0%AE=[redacted]&to%6Ben=[redacted]&code=[redacted]&plain=1');
  });

  it('a line whose serializer throws is replaced by a line saying it was lost, and the caller goes on', () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
    const root = pino(
      {
        serializers: {
          req: () => {
            throw new URIError('URI malformed');
          },
        },
      },
      stream,
    );
    const log = deferredChildLogger(root, { reqId: 'r1' }, {});
    expect(() => log.info({ req: {} }, 'incoming request')).not.toThrow();
    const written = lines.join('').trim().split('\n').map((line) => JSON.parse(line) as { msg: string; reqId?: string });
    expect(written.map((line) => line.msg)).toEqual(['a log line could not be written']);
    expect(JSON.stringify(written)).not.toContain('incoming request');
  });
});

describe.each(testBackends())('request logging and response headers on %s', (backend) => {
  let testApp: TestApp;
  let adminToken: string;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    adminToken = (await tokenWith(testApp, 'admin')).token;
  });
  afterAll(async () => testApp?.close());

  const linesFor = (requestId: string) => testApp.logs.map((line) => JSON.parse(line) as { reqId?: string; msg?: string }).filter((line) => line.reqId === requestId);

  it('at level info a request writes its incoming and completed lines, bound to the id the response carries', async () => {
    const response = await testApp.app.inject({ method: 'GET', url: SETTINGS_URL, headers: bearer(adminToken) });
    expect(response.statusCode).toBe(200);
    const requestId = String(response.headers['x-request-id']);
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(linesFor(requestId).map((line) => line.msg)).toEqual(['incoming request', 'request completed']);
  });

  it('above level info a request writes nothing, and lines resume when the level is lowered again', async () => {
    testApp.app.log.level = 'warn';
    try {
      const quiet = await testApp.app.inject({ method: 'GET', url: SETTINGS_URL, headers: bearer(adminToken) });
      expect(quiet.statusCode).toBe(200);
      expect(linesFor(String(quiet.headers['x-request-id']))).toEqual([]);
    } finally {
      testApp.app.log.level = 'info';
    }
    const loud = await testApp.app.inject({ method: 'GET', url: SETTINGS_URL, headers: bearer(adminToken) });
    expect(linesFor(String(loud.headers['x-request-id']))).toHaveLength(2);
  });

  it('a request whose query key is not valid percent-encoding is answered and logged with that value masked', async () => {
    const response = await testApp.app.inject({ method: 'GET', url: '/auth/api/v1/status?%=1&token%=secret' });
    expect(response.statusCode).toBe(200);
    const incoming = linesFor(String(response.headers['x-request-id'])).find((line) => line.msg === 'incoming request') as { req?: { url?: string } } | undefined;
    expect(incoming?.req?.url).toBe('/auth/api/v1/status?%=[redacted]&token%=[redacted]');
    expect(testApp.logs.join('\n')).not.toContain('secret');
  });

  it.each([
    ['a request without a token (401)', SETTINGS_URL, {}, 401],
    ['an unknown route (404)', '/host-store/api/v1/no-such-route', {}, 404],
    ['a public route (200)', '/host-store/api/v1/status', {}, 200],
  ])('%s still carries x-request-id and cache-control: no-store', async (_name, url, headers, status) => {
    const response = await testApp.app.inject({ method: 'GET', url, headers });
    expect(response.statusCode).toBe(status);
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers['cache-control']).toBe('no-store');
  });
});
