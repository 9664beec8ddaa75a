import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, tokenWith, type TestApp } from '../helpers/app.js';

const SETTINGS_URL = '/host-store/api/v1/settings/default_service_options';

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
