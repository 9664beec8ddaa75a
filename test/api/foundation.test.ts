import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivxError } from '../../src/errors.js';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';

const SERVICES = ['auth', 'local-user-store', 'role-store', 'host-store', 'authorizer', 'settings', 'monitor-service'];

describe.each(testBackends())('foundation on %s', (backend) => {
  let testApp: TestApp;
  let adminToken: string;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    adminToken = (await tokenWith(testApp, 'admin')).token;
    // A route that fails unexpectedly, to prove the 500 path hides its cause.
  });
  afterAll(async () => testApp?.close());

  it.each(SERVICES)('GET /%s/api/v1/status answers 200 without a token in the PrivX shape', async (service) => {
    const response = await testApp.app.inject({ method: 'GET', url: `/${service}/api/v1/status` });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(['api_version', 'app_id', 'server-mode', 'start_time', 'status', 'status_details', 'status_message', 'variant', 'version'].sort());
    expect(body).toMatchObject({ variant: 'privgate', status: 'ok', app_id: service, api_version: 'v1' });
    expect(new Date(body.start_time).toISOString()).toBe(body.start_time);
    expect(body.status_details).toContainEqual({ k: 'database', v: backend });
  });

  it('a status request with a token, a JSON content type, an empty body and a bare ? still answers 200', async () => {
    const response = await testApp.app.inject({
      method: 'GET',
      url: '/host-store/api/v1/status?',
      headers: { ...bearer(adminToken), 'content-type': 'application/json' },
      payload: '',
    });
    expect(response.statusCode).toBe(200);
  });

  it('an unknown route answers 404 with a NOT_FOUND code in the envelope', async () => {
    const response = await testApp.app.inject({ method: 'GET', url: '/host-store/api/v1/no-such-thing' });
    expect(response.statusCode).toBe(404);
    expect(envelope(response).error_code).toContain('NOT_FOUND');
  });

  it('malformed JSON answers 400 in the envelope and creates nothing', async () => {
    const before = await testApp.app.context.database.db.selectFrom('roles').select('id').execute();
    const response = await testApp.app.inject({
      method: 'POST',
      url: '/role-store/api/v1/roles',
      headers: { ...bearer(adminToken), 'content-type': 'application/json' },
      payload: '{"name": "x", ',
    });
    expect(response.statusCode).toBe(400);
    expect(envelope(response).error_code).toBe('BAD_REQUEST');
    const after = await testApp.app.context.database.db.selectFrom('roles').select('id').execute();
    expect(after.length).toBe(before.length);
  });


  it('a NUL character in a path id, a query or a body string answers 400 VALUE_INCORRECT_FORMAT naming the property and stores nothing', async () => {
    const inPath = await testApp.app.inject({ method: 'GET', url: '/role-store/api/v1/roles/a%00b', headers: bearer(adminToken) });
    expect(inPath.statusCode).toBe(400);
    expect(envelope(inPath)).toMatchObject({ error_code: 'VALUE_INCORRECT_FORMAT', property: 'id' });

    const inQuery = await testApp.app.inject({ method: 'GET', url: '/host-store/api/v1/hosts?sortkey=na%00me', headers: bearer(adminToken) });
    expect(inQuery.statusCode).toBe(400);
    expect(envelope(inQuery).property).toBe('sortkey');

    const before = await testApp.app.context.database.db.selectFrom('roles').select('id').execute();
    const inBody = await testApp.app.inject({
      method: 'POST',
      url: '/role-store/api/v1/roles',
      headers: { ...bearer(adminToken), 'content-type': 'application/json' },
      payload: '{"name": "nul\\u0000role", "permissions": []}',
    });
    expect(inBody.statusCode).toBe(400);
    expect(envelope(inBody)).toMatchObject({ error_code: 'VALUE_INCORRECT_FORMAT', property: 'name' });
    const after = await testApp.app.context.database.db.selectFrom('roles').select('id').execute();
    expect(after.length).toBe(before.length);
  });
  it('a body nested 100,000 arrays deep answers 400, not 500', async () => {
    const response = await testApp.app.inject({
      method: 'PUT',
      url: '/local-user-store/api/v1/api-clients/some-id',
      headers: { ...bearer(adminToken), 'content-type': 'application/json' },
      payload: `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    });
    expect(response.statusCode).toBe(400);
    expect(envelope(response).error_code).toBeDefined();
  });

  it('a wrong type answers 400 VALUE_INCORRECT_TYPE naming the property', async () => {
    const response = await testApp.app.inject({
      method: 'POST',
      url: '/role-store/api/v1/roles',
      headers: bearer(adminToken),
      payload: { name: 42, permissions: [] },
    });
    expect(response.statusCode).toBe(400);
    expect(envelope(response)).toMatchObject({ error_code: 'VALUE_INCORRECT_TYPE', property: 'name' });
  });

  it('a missing required field answers 400 REQUIRED_VALUE_MISSING naming it', async () => {
    const response = await testApp.app.inject({ method: 'POST', url: '/role-store/api/v1/roles', headers: bearer(adminToken), payload: { name: 'r' } });
    expect(response.statusCode).toBe(400);
    expect(envelope(response)).toMatchObject({ error_code: 'REQUIRED_VALUE_MISSING', property: 'permissions' });
  });

  it('an oversize body answers 413 in the envelope', async () => {
    const response = await testApp.app.inject({
      method: 'POST',
      url: '/role-store/api/v1/roles',
      headers: { ...bearer(adminToken), 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024), permissions: [] }),
    });
    expect(response.statusCode).toBe(413);
    expect(envelope(response).error_code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('an unsupported content type answers 415 in the envelope', async () => {
    const response = await testApp.app.inject({ method: 'POST', url: '/role-store/api/v1/roles', headers: { ...bearer(adminToken), 'content-type': 'text/xml' }, payload: '<a/>' });
    expect(response.statusCode).toBe(415);
    envelope(response);
  });

  it('the OpenAPI document lists every route with its declared permissions', async () => {
    const response = await testApp.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(response.statusCode).toBe(200);
    const document = response.json() as { openapi: string; paths: Record<string, Record<string, { 'x-privgate-permissions': unknown }>> };
    expect(document.openapi).toMatch(/^3\./);
    expect(document.paths['/host-store/api/v1/status']?.get?.['x-privgate-permissions']).toBe('public');
    expect(document.paths['/role-store/api/v1/roles']?.post?.['x-privgate-permissions']).toEqual(['roles-manage']);
  });

  it('every registered route declares permissions or is explicitly public', () => {
    expect(testApp.app.routeTable.length).toBeGreaterThan(20);
    for (const route of testApp.app.routeTable) {
      expect(route.public || route.permissions.length > 0, `${route.method} ${route.url}`).toBe(true);
    }
    const publicRoutes = testApp.app.routeTable.filter((route) => route.public).map((route) => `${route.method} ${route.url}`);
    for (const route of publicRoutes) {
      expect(route).toMatch(/\/status$|\/oauth\/(token|authorize|jwks|revoke)$|\/login$|\/api\/openapi\.json$|\/icap\/register$/);
    }
  });
});

describe('unexpected errors', () => {
  it('an unexpected failure answers 500 GENERAL_ERROR with no stack, no SQL, and logs the cause', async () => {
    const testApp = await createTestApp('sqlite');
    try {
      // Break the database underneath a request: the repository's query fails inside the handler.
      const token = (await tokenWith(testApp, 'admin')).token;
      const { sql } = await import('kysely');
      await sql`drop table role_members`.execute(testApp.app.context.database.db);
      const response = await testApp.app.inject({ method: 'GET', url: '/role-store/api/v1/roles/00000000-0000-4000-8000-000000000001/members', headers: bearer(token) });
      expect(response.statusCode).toBe(500);
      expect(envelope(response)).toEqual({ error_code: 'GENERAL_ERROR', error_message: 'internal server error' });
      expect(response.body).not.toMatch(/role_members|select|at .*\.ts/i);
      expect(testApp.logs.some((line) => line.includes('role_members'))).toBe(true);
    } finally {
      await testApp.close();
    }
  });

  it('PrivxError renders its own status, code and property', () => {
    const error = new PrivxError(400, 'VALUE_OUT_OF_BOUNDS', 'too big', { property: 'db.max_bytes_upload' });
    expect(error.toEnvelope()).toEqual({ error_code: 'VALUE_OUT_OF_BOUNDS', error_message: 'too big', property: 'db.max_bytes_upload' });
  });
});
