import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SERVICE_OPTIONS } from '../../src/lib/service-options.js';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';

const URL = '/host-store/api/v1/settings/default_service_options';

describe.each(testBackends())('GET /host-store/api/v1/settings/default_service_options on %s', (backend) => {
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
  });
  afterAll(async () => testApp?.close());

  it('answers the factory defaults to privx-admin in exactly the documented shape', async () => {
    const { token } = await tokenWith(testApp, 'admin');
    const response = await testApp.app.inject({ method: 'GET', url: URL, headers: bearer(token) });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toEqual({
      ssh: { shell: true, file_transfer: true, exec: true, tunnels: true, x11: true, other: true },
      rdp: { file_transfer: true, audio: true, clipboard: true },
      web: { file_transfer: true, audio: true, clipboard: true },
      vnc: { file_transfer: true, clipboard: true },
      db: { max_bytes_download: 0, max_bytes_upload: 0 },
    });
    expect(Object.keys(body)).toEqual(['ssh', 'rdp', 'web', 'vnc', 'db']);
    expect(body).toEqual(DEFAULT_SERVICE_OPTIONS);
    expect(response.headers.etag).toBe('"0"');
  });

  it('answers 200 to an API client holding hosts-manage', async () => {
    const { token } = await tokenWith(testApp, ['hosts-manage']);
    const response = await testApp.app.inject({ method: 'GET', url: URL, headers: bearer(token) });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(DEFAULT_SERVICE_OPTIONS);
  });

  it('answers 200 to a registered trusted client (the service scope)', async () => {
    const { token } = await testApp.app.tokens.signAccessToken({ type: 'trusted-client', id: crypto.randomUUID(), name: 'proxy', roles: [], permissions: [] }, 'x');
    const response = await testApp.app.inject({ method: 'GET', url: URL, headers: bearer(token) });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(DEFAULT_SERVICE_OPTIONS);
  });

  it('answers 401 without a token', async () => {
    const response = await testApp.app.inject({ method: 'GET', url: URL });
    expect(response.statusCode).toBe(401);
    expect(envelope(response).error_code).toBe('UNAUTHORIZED');
  });

  it('answers 401 with a garbage token', async () => {
    const response = await testApp.app.inject({ method: 'GET', url: URL, headers: bearer('not.a.token') });
    expect(response.statusCode).toBe(401);
    envelope(response);
  });

  it('answers 403 PERMISSION_DENIED to a token with no role', async () => {
    const { token } = await tokenWith(testApp, []);
    const response = await testApp.app.inject({ method: 'GET', url: URL, headers: bearer(token) });
    expect(response.statusCode).toBe(403);
    expect(envelope(response).error_code).toBe('PERMISSION_DENIED');
  });

  it('answers 403 to a token holding only users-view, and to one holding only hosts-view', async () => {
    for (const permissions of [['users-view'], ['hosts-view'], ['settings-manage']]) {
      const { token } = await tokenWith(testApp, permissions);
      const response = await testApp.app.inject({ method: 'GET', url: URL, headers: bearer(token) });
      expect(response.statusCode, permissions.join()).toBe(403);
      expect(envelope(response).error_code).toBe('PERMISSION_DENIED');
    }
  });

  it('declares its scopes in the OpenAPI document', async () => {
    const response = await testApp.app.inject({ method: 'GET', url: '/api/openapi.json' });
    const document = response.json() as { paths: Record<string, Record<string, { 'x-privgate-permissions': unknown }>> };
    expect(document.paths[URL]?.get?.['x-privgate-permissions']).toEqual(['admin', 'hosts-manage', 'service']);
  });
});
