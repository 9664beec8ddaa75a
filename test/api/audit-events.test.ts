import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';
import type { AuditEventView } from '../../src/services/monitor-service/repository.js';

const EVENTS = '/monitor-service/api/v1/auditevents';
const BATCH = `${EVENTS}/batch`;

type AuditEvent = AuditEventView;

describe.each(testBackends())('audit events on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  let logsViewer: string;
  let hostsManager: string;
  let proxy: string;
  const proxyId = 'proxy-under-test';

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
    logsViewer = (await tokenWith(testApp, ['logs-view'])).token;
    hostsManager = (await tokenWith(testApp, ['hosts-manage'])).token;
    proxy = (await testApp.app.tokens.signAccessToken({ type: 'trusted-client', id: proxyId, name: proxyId, roles: [], permissions: [] }, 'test')).token;
  });
  afterAll(async () => testApp?.close());

  const list = async (query = '', token = logsViewer) => {
    const response = await testApp.app.inject({ method: 'GET', url: `${EVENTS}${query}`, headers: bearer(token) });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as { count: number; items: AuditEvent[] };
  };
  const stored = async () => (await testApp.app.context.database.db.selectFrom('audit_events').select('id').execute()).length;

  it('a web proxy ingests a batch; events are stored with it as reporter and listed newest first', async () => {
    const base = Date.now();
    const events = Array.from({ length: 3 }, (_, index) => ({
      type: 'web_request',
      outcome: index === 1 ? 'deny' : 'allow',
      at: new Date(base - (3 - index) * 1000).toISOString(),
      principal_id: 'user-1',
      principal_name: 'alice',
      source_address: '10.0.0.5',
      object_type: 'host',
      object_id: 'host-1',
      details: { url: `https://app.example.com/${index}`, session_id: 'ws-1' },
    }));
    const response = await testApp.app.inject({ method: 'POST', url: BATCH, headers: bearer(proxy), payload: { events } });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ count: 3 });

    const page = await list(`?reporter=${proxyId}`);
    expect(page.count).toBe(3);
    expect(page.items.map((event) => event.details.url)).toEqual(['https://app.example.com/2', 'https://app.example.com/1', 'https://app.example.com/0']);
    expect(page.items[0]).toEqual({
      service_id: proxyId,
      service_name: 'web-proxy',
      event_id: '7001',
      event_name: 'WEB_REQUEST',
      message: expect.objectContaining({ type: 'web_request', outcome: 'allow', user_id: 'user-1', user_name: 'alice', client_address: '10.0.0.5', url: 'https://app.example.com/2' }),
      id: expect.any(String),
      created: events[2]!.at,
      type: 'web_request',
      outcome: 'allow',
      principal_type: 'user',
      principal_id: 'user-1',
      principal_name: 'alice',
      source_address: '10.0.0.5',
      object_type: 'host',
      object_id: 'host-1',
      details: events[2]!.details,
      reporter: proxyId,
    });

    const denied = await list('?outcome=deny&type=web_request');
    expect(denied.items.map((event) => event.details.url)).toEqual(['https://app.example.com/1']);
    expect((await list('?principal_id=user-1')).count).toBe(3);
    expect((await list('?object_id=host-1&limit=1')).items).toHaveLength(1);
    expect((await list('?object_id=host-1&offset=2')).items.map((event) => event.details.url)).toEqual(['https://app.example.com/0']);
    const window = await list(`?reporter=${proxyId}&from=${encodeURIComponent(events[1]!.at)}&to=${encodeURIComponent(events[2]!.at)}`);
    expect(window.items.map((event) => event.details.url)).toEqual(['https://app.example.com/1']);
  });

  it('control-plane events are listed too, without null fields', async () => {
    await testApp.app.inject({ method: 'POST', url: '/local-user-store/api/v1/trusted-clients', headers: bearer(admin), payload: { type: 'ICAP', name: 'audited-proxy' } });
    const page = await list('?type=trusted_client_created', admin);
    expect(page.count).toBe(1);
    const event = page.items[0]!;
    expect(event).toMatchObject({ type: 'trusted_client_created', outcome: 'success', principal_type: 'api-client', object_type: 'trusted-client', reporter: 'control-plane' });
    expect(event).not.toHaveProperty('source_address');
    expect(Object.values(event)).not.toContain(null);
  });

  it('a batch of 1000 is accepted; 1001 is not', async () => {
    const event = { type: 'web_request', outcome: 'allow', at: new Date().toISOString() };
    const ok = await testApp.app.inject({ method: 'POST', url: BATCH, headers: bearer(proxy), payload: { events: Array.from({ length: 1000 }, () => event) } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ count: 1000 });
    const before = await stored();
    const tooMany = await testApp.app.inject({ method: 'POST', url: BATCH, headers: bearer(proxy), payload: { events: Array.from({ length: 1001 }, () => event) } });
    expect(tooMany.statusCode).toBe(400);
    expect(envelope(tooMany)).toMatchObject({ error_code: 'VALUE_OUT_OF_BOUNDS', property: 'events' });
    expect(await stored()).toBe(before);
  });

  it.each([
    [{ events: [{ type: 'web_request', outcome: 'maybe', at: '2030-01-01T00:00:00Z' }] }, 'events[0].outcome'],
    [{ events: [{ type: 'user_created', outcome: 'allow', at: '2030-01-01T00:00:00Z' }] }, 'events[0].type'],
    [{ events: [{ type: 'web_request', outcome: 'allow', at: 'yesterday' }] }, 'events[0].at'],
    [{ events: [{ type: 'web_request', outcome: 'allow' }] }, 'events[0].at'],
    [{ events: [{ type: 'web_request', outcome: 'allow', at: '2020-01-01T00:00:00Z', reporter: 'someone-else' }] }, 'events[0].reporter'],
    [{ events: [{ type: 'web_request', outcome: 'allow', at: '2020-01-01T00:00:00Z', details: 'text' }] }, 'events[0].details'],
    [{ events: [{ type: 'web_request', outcome: 'allow', at: '2020-01-01T00:00:00Z', details: { blob: 'x'.repeat(9000) } }] }, 'events[0].details'],
    [{ events: [{ type: 'web_request', outcome: 'allow', at: '2099-01-01T00:00:00Z' }] }, 'events[0].at'],
    [{ events: [{ type: 'web_request', outcome: 'allow', at: '2020-01-01T00:00:00Z', principal_name: 'no-id' }] }, 'events[0].principal_id'],
    [{ events: [] }, 'events'],
    [{}, 'events'],
    [{ events: [], extra: 1 }, 'extra'],
  ])('an invalid batch %j → 400 naming %s, and nothing is stored', async (payload, property) => {
    const good = { type: 'web_request', outcome: 'allow', at: '2020-01-01T00:00:00Z' };
    const before = await stored();
    // A valid event before the bad one proves the batch is all-or-nothing.
    const body = 'events' in payload && Array.isArray(payload.events) && payload.events.length > 0 ? { ...payload, events: [good, ...payload.events] } : payload;
    const expectedProperty = property.replace('events[0]', body === payload ? 'events[0]' : 'events[1]');
    const response = await testApp.app.inject({ method: 'POST', url: BATCH, headers: bearer(proxy), payload: body });
    expect(response.statusCode, response.body).toBe(400);
    expect(envelope(response).property).toBe(expectedProperty);
    expect(await stored()).toBe(before);
  });

  it('permissions: listing needs admin or logs-view; ingest needs a service principal', async () => {
    expect((await testApp.app.inject({ method: 'GET', url: EVENTS })).statusCode).toBe(401);
    expect((await testApp.app.inject({ method: 'GET', url: EVENTS, headers: bearer(hostsManager) })).statusCode).toBe(403);
    expect((await testApp.app.inject({ method: 'GET', url: EVENTS, headers: bearer(proxy) })).statusCode).toBe(403);
    const event = { type: 'web_request', outcome: 'allow', at: new Date().toISOString() };
    expect((await testApp.app.inject({ method: 'POST', url: BATCH, headers: bearer(admin), payload: { events: [event] } })).statusCode).toBe(403);
    expect((await testApp.app.inject({ method: 'POST', url: BATCH, payload: { events: [event] } })).statusCode).toBe(401);
    const badQuery = await testApp.app.inject({ method: 'GET', url: `${EVENTS}?from=not-a-date`, headers: bearer(admin) });
    expect(badQuery.statusCode).toBe(400);
    expect(envelope(badQuery).property).toBe('from');
  });
});
