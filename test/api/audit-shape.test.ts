import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, envelope, tokenWith, twoNodesOnOneDatabase, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';
import { recordAuditEvent, type AuditEventInput } from '../../src/services/monitor-service/audit-log.js';
import type { AuditEventView } from '../../src/services/monitor-service/repository.js';

const MONITOR = '/monitor-service/api/v1';
const EVENTS = `${MONITOR}/auditevents`;
const SEARCH = `${EVENTS}/search`;

/** The seeded events lie in 2001, apart from everything the test app itself records. */
const at = (second: number) => new Date(Date.UTC(2001, 0, 1, 0, 0, second));
const WINDOW = { start_time: at(0).toISOString(), end_time: at(59).toISOString() };
const WINDOW_QUERY = `from=${encodeURIComponent(WINDOW.start_time)}&to=${encodeURIComponent(WINDOW.end_time)}`;

const alice = { type: 'user' as const, id: 'u-alice', name: 'alice' };
const bob = { type: 'user' as const, id: 'u-bob', name: 'bob' };
const carol = { type: 'api-client' as const, id: 'u-carol', name: 'carol' };

/** One event per second; `tag` (in details) names it in assertions. */
const SEEDED: Array<AuditEventInput & { tag: string }> = [
  { tag: 'login', type: 'login', outcome: 'success', principal: alice, sourceAddress: '10.0.0.1', at: at(1) },
  { tag: 'host', type: 'host_created', outcome: 'success', principal: bob, objectType: 'host', objectId: 'h-1', details: { after: { common_name: 'web01' } }, at: at(2) },
  {
    tag: 'web',
    type: 'web_request',
    outcome: 'deny',
    principal: alice,
    sourceAddress: '10.0.0.2',
    objectType: 'host',
    objectId: 'h-2',
    details: { url: 'https://intranet.example.com/', session_id: 'ws-9' },
    reporter: 'proxy-1',
    at: at(3),
  },
  { tag: 'group', type: 'access_group_created', outcome: 'success', principal: bob, objectType: 'access-group', objectId: 'ag-1', details: { name: 'Ops' }, at: at(4) },
  { tag: 'mystery', type: 'mystery_event', outcome: 'success', principal: carol, details: { connection_id: 'c-1', source_id: 's-1', type: 'shadowed' }, at: at(5) },
  { tag: 'settings', type: 'settings_changed', outcome: 'failure', principal: alice, objectType: 'settings', objectId: 'auth', at: at(6) },
];

describe.each(testBackends())('audit events in PrivX shape on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  let logsViewer: string;
  let hostsManager: string;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
    logsViewer = (await tokenWith(testApp, ['logs-view'])).token;
    hostsManager = (await tokenWith(testApp, ['hosts-manage'])).token;
    for (const { tag, ...event } of SEEDED) {
      await recordAuditEvent(testApp.app.context.database.db, { ...event, details: { ...event.details, tag } });
    }
  });
  afterAll(async () => testApp?.close());

  const stored = async () => (await testApp.app.context.database.db.selectFrom('audit_events').select('id').execute()).length;
  const tagsOf = (items: AuditEventView[]) => items.map((event) => event.details.tag);
  const list = async (query: string, token = logsViewer) => {
    const response = await testApp.app.inject({ method: 'GET', url: `${EVENTS}?${WINDOW_QUERY}&${query}`, headers: bearer(token) });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as { count: number; items: AuditEventView[] };
  };
  const search = async (body: Record<string, unknown>, query = 'sortdir=ASC') => {
    const response = await testApp.app.inject({ method: 'POST', url: `${SEARCH}?${query}`, headers: bearer(logsViewer), payload: { ...WINDOW, ...body } });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as { count: number; items: AuditEventView[] };
  };

  it("each event carries the SDK's AuditEvent fields (string event_id, string message map) and our own", async () => {
    const page = await list('sortdir=ASC');
    expect(page.count).toBe(SEEDED.length);
    const [login, , web, , mystery] = page.items;
    expect(login).toEqual({
      service_id: 'control-plane',
      service_name: 'auth',
      event_id: '1001',
      event_name: 'LOGIN',
      created: at(1).toISOString(),
      message: { type: 'login', outcome: 'success', user_id: 'u-alice', user_name: 'alice', user_type: 'user', client_address: '10.0.0.1', tag: 'login' },
      id: expect.any(String),
      type: 'login',
      outcome: 'success',
      principal_type: 'user',
      principal_id: 'u-alice',
      principal_name: 'alice',
      source_address: '10.0.0.1',
      details: { tag: 'login' },
      reporter: 'control-plane',
    });
    expect(web).toMatchObject({ service_id: 'proxy-1', service_name: 'web-proxy', event_id: '7001', event_name: 'WEB_REQUEST' });
    expect(web!.message).toEqual({
      type: 'web_request',
      outcome: 'deny',
      user_id: 'u-alice',
      user_name: 'alice',
      user_type: 'user',
      client_address: '10.0.0.2',
      object_type: 'host',
      object_id: 'h-2',
      url: 'https://intranet.example.com/',
      session_id: 'ws-9',
      tag: 'web',
    });
    // A type missing from the code table is code 0 under its name; a detail that would shadow a message key moves aside.
    expect(mystery).toMatchObject({ event_id: '0', event_name: 'MYSTERY_EVENT', service_name: 'monitor-service' });
    expect(mystery!.message).toMatchObject({ type: 'mystery_event', 'details.type': 'shadowed', connection_id: 'c-1' });
    for (const event of page.items) {
      for (const key of ['service_id', 'service_name', 'event_id', 'event_name', 'created']) expect(typeof event[key as keyof AuditEventView], key).toBe('string');
      expect(Object.values(event.message).every((value) => typeof value === 'string')).toBe(true);
    }
    // The host event's nested details are JSON in the message.
    expect(page.items[1]!.message.after).toBe('{"common_name":"web01"}');
  });

  it('GET /auditevents sorts by sortkey/sortdir (default created DESC) and pages with offset/limit', async () => {
    const order = SEEDED.map((event) => event.tag);
    expect(tagsOf((await list('')).items)).toEqual([...order].reverse());
    expect(tagsOf((await list('sortkey=created&sortdir=ASC')).items)).toEqual(order);
    expect(tagsOf((await list('sortkey=created&sortdir=desc')).items)).toEqual([...order].reverse());
    expect(tagsOf((await list('sortkey=event_name&sortdir=ASC')).items)).toEqual(['group', 'host', 'login', 'mystery', 'settings', 'web']);
    expect(tagsOf((await list('sortkey=principal_name&sortdir=ASC')).items)).toEqual(['login', 'web', 'settings', 'host', 'group', 'mystery']);
    const page = await list('sortkey=created&sortdir=ASC&offset=1&limit=2&fuzzycount=true');
    expect(page.count).toBe(SEEDED.length);
    expect(tagsOf(page.items)).toEqual(['host', 'web']);
    expect((await list('offset=10')).items).toEqual([]);
    // The Python SDK's `query` is the keywords.
    expect(tagsOf((await list('query=intranet')).items)).toEqual(['web']);
  });

  it.each([
    ['sortkey=password', 'sortkey'],
    ['sortdir=sideways', 'sortdir'],
    ['limit=-1', 'limit'],
    ['limit=1001', 'limit'],
    ['offset=abc', 'offset'],
    ['fuzzycount=maybe', 'fuzzycount'],
    ['from=2016-12-31T23:59:60Z', 'from'],
  ])('GET /auditevents?%s → 400 naming %s', async (query, property) => {
    const response = await testApp.app.inject({ method: 'GET', url: `${EVENTS}?${query}`, headers: bearer(logsViewer) });
    expect(response.statusCode, response.body).toBe(400);
    expect(envelope(response).property).toBe(property);
  });

  it.each([
    ['keywords (case-insensitive, in details)', { keywords: 'WEB01' }, ['host']],
    ['keywords (every word must match)', { keywords: 'alice 10.0.0' }, ['login', 'web']],
    ['user_id', { user_id: 'u-bob' }, ['host', 'group']],
    ['users (ids or names)', { users: ['carol', 'u-bob'] }, ['host', 'group', 'mystery']],
    ['event_ids', { event_ids: [1001, 5001] }, ['login', 'group']],
    ['services', { services: ['host-store', 'web-proxy'] }, ['host', 'web']],
    ['event_ids and services together', { event_ids: [1001, 4001], services: ['host-store'] }, ['host']],
    ['host_id (the object)', { host_id: 'h-1' }, ['host']],
    ['access_group_id', { access_group_id: 'ag-1' }, ['group']],
    ['session_id (in details)', { session_id: 'ws-9' }, ['web']],
    ['connection_id', { connection_id: 'c-1' }, ['mystery']],
    ['source_id', { source_id: 's-1' }, ['mystery']],
    ['start_time inclusive, end_time exclusive', { start_time: at(2).toISOString(), end_time: at(4).toISOString() }, ['host', 'web']],
    ['several filters at once', { user_id: 'u-alice', keywords: 'intranet', host_id: 'h-2' }, ['web']],
    ['an unknown host', { host_id: 'h-none' }, []],
  ])('POST /auditevents/search by %s', async (_name, body, expected) => {
    const page = await search(body);
    expect(tagsOf(page.items)).toEqual(expected);
    expect(page.count).toBe(expected.length);
  });

  it("the Go SDK's zero search (every field an empty string) and an empty body search everything", async () => {
    const all = (await testApp.app.inject({ method: 'GET', url: `${EVENTS}?limit=1`, headers: bearer(logsViewer) })).json() as { count: number };
    const zero = { keywords: '', user_id: '', connection_id: '', host_id: '', source_id: '', session_id: '', access_group_id: '', start_time: '', end_time: '' };
    const response = await testApp.app.inject({ method: 'POST', url: `${SEARCH}?offset=0&limit=25&sortkey=created&sortdir=DESC&fuzzycount=true`, headers: bearer(logsViewer), payload: zero });
    expect(response.statusCode, response.body).toBe(200);
    expect((response.json() as { count: number }).count).toBe(all.count);
    const empty = await testApp.app.inject({ method: 'POST', url: SEARCH, headers: { ...bearer(logsViewer), 'content-type': 'application/json' }, payload: '' });
    expect(empty.statusCode, empty.body).toBe(200);
    expect((empty.json() as { count: number }).count).toBe(all.count);
    const paged = await search({}, 'sortkey=created&sortdir=DESC&offset=4&limit=5');
    expect(tagsOf(paged.items)).toEqual(['host', 'login']);
  });

  it.each([
    [{ start_time: 'yesterday' }, 'start_time'],
    [{ end_time: '2016-12-31T23:59:60Z' }, 'end_time'],
    [{ start_time: at(5).toISOString(), end_time: at(1).toISOString() }, 'start_time'],
    [{ services: ['nope'] }, 'services'],
    [{ event_ids: ['x'] }, 'event_ids'],
    [{ keywords: 5 }, 'keywords'],
    [{ unknown: 'x' }, 'unknown'],
  ])('a bad search %j → 400 naming %s, and nothing is recorded', async (body, property) => {
    const before = await stored();
    const response = await testApp.app.inject({ method: 'POST', url: SEARCH, headers: bearer(logsViewer), payload: body });
    expect(response.statusCode, response.body).toBe(400);
    expect(envelope(response).property ?? '').toContain(property);
    expect(await stored()).toBe(before);
    const badSort = await testApp.app.inject({ method: 'POST', url: `${SEARCH}?sortkey=secret`, headers: bearer(logsViewer), payload: {} });
    expect(badSort.statusCode).toBe(400);
  });

  it("GET /auditevents/codes is the SDK's AuditEventCodes: a map from each code to {event_id, event_name, event_desc}", async () => {
    const response = await testApp.app.inject({ method: 'GET', url: `${EVENTS}/codes`, headers: bearer(logsViewer) });
    expect(response.statusCode, response.body).toBe(200);
    const codes = response.json() as Record<string, { event_id: number; event_name: string; event_desc: string; service_name: string }>;
    expect(codes['1001']).toEqual({ event_id: 1001, event_name: 'LOGIN', event_desc: expect.any(String), service_name: 'auth' });
    expect(codes['7001']).toMatchObject({ event_name: 'WEB_REQUEST', service_name: 'web-proxy' });
    const entries = Object.entries(codes);
    expect(entries.length).toBeGreaterThan(40);
    for (const [key, info] of entries) {
      expect(key).toBe(String(info.event_id));
      expect(info.event_desc).not.toBe('');
    }
    expect(new Set(entries.map(([, info]) => info.event_name)).size).toBe(entries.length);
    expect(codes['0']).toBeUndefined();
  });

  it('components and instance status report this node, its version, the database and uptime; registered data-plane clients are listed as unknown', async () => {
    const created = await testApp.app.inject({ method: 'POST', url: '/local-user-store/api/v1/trusted-clients', headers: bearer(admin), payload: { type: 'ICAP', name: 'proxy-east' } });
    expect(created.statusCode, created.body).toBe(201);
    const proxyId = (created.json() as { id: string }).id;
    await testApp.app.context.database.db.updateTable('trusted_clients').set({ registered: 1 }).where('id', '=', proxyId).execute();

    const status = await testApp.app.inject({ method: 'GET', url: `${MONITOR}/instance/status`, headers: bearer(logsViewer) });
    expect(status.statusCode, status.body).toBe(200);
    const instance = status.json() as Record<string, unknown>;
    expect(instance).toMatchObject({
      status: 'ok',
      version: expect.any(String),
      hostname: os.hostname(),
      start_time: testApp.app.context.startTime.toISOString(),
      database: { dialect: backend, reachable: true },
      nodes_tracked: false,
    });
    expect(instance.uptime_seconds).toBeGreaterThanOrEqual(0);
    expect(instance.nodes).toHaveLength(1);

    const components = await testApp.app.inject({ method: 'GET', url: `${MONITOR}/components`, headers: bearer(logsViewer) });
    expect(components.statusCode, components.body).toBe(200);
    const list = components.json() as { count: number; items: Array<Record<string, unknown>> };
    expect(list.count).toBe(2);
    expect(list.items[0]).toMatchObject({ hostname: os.hostname(), component: 'control-plane', status: 'ok', this_node: true, database: { reachable: true } });
    expect(list.items[1]).toEqual({ hostname: 'proxy-east', component: 'ICAP', id: proxyId, status: 'unknown', this_node: false });

    const one = await testApp.app.inject({ method: 'GET', url: `${MONITOR}/components/proxy-east`, headers: bearer(logsViewer) });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id: proxyId });
    const missing = await testApp.app.inject({ method: 'GET', url: `${MONITOR}/components/no-such-host`, headers: bearer(logsViewer) });
    expect(missing.statusCode).toBe(404);
    expect(envelope(missing).error_code).toContain('NOT_FOUND');
  });

  it('GET /time answers the server clock; POST /instance/exit is refused (405) and changes nothing', async () => {
    const time = await testApp.app.inject({ method: 'GET', url: `${MONITOR}/time`, headers: bearer(hostsManager) });
    expect(time.statusCode).toBe(200);
    const clock = Date.parse((time.json() as { time_utc: string }).time_utc);
    expect(Math.abs(clock - testApp.app.context.clock.now().getTime())).toBeLessThan(60_000);

    const before = await stored();
    const exit = await testApp.app.inject({ method: 'POST', url: `${MONITOR}/instance/exit`, headers: bearer(admin) });
    expect(exit.statusCode).toBe(405);
    expect(envelope(exit).error_code).toBe('NOT_ALLOWED');
    expect(await stored()).toBe(before);
    expect((await testApp.app.inject({ method: 'GET', url: `${MONITOR}/status` })).statusCode).toBe(200);
  });

  it('permissions: reading needs admin or logs-view, exit needs admin, time any token', async () => {
    const reads: Array<{ method: 'GET' | 'POST'; url: string; payload?: object }> = [
      { method: 'POST', url: SEARCH, payload: {} },
      { method: 'GET', url: `${EVENTS}/codes` },
      { method: 'GET', url: `${MONITOR}/components` },
      { method: 'GET', url: `${MONITOR}/components/${os.hostname()}` },
      { method: 'GET', url: `${MONITOR}/instance/status` },
    ];
    for (const request of reads) {
      expect((await testApp.app.inject(request)).statusCode, request.url).toBe(401);
      expect((await testApp.app.inject({ ...request, headers: bearer(hostsManager) })).statusCode, request.url).toBe(403);
      expect((await testApp.app.inject({ ...request, headers: bearer(admin) })).statusCode, request.url).toBe(200);
    }
    expect((await testApp.app.inject({ method: 'POST', url: `${MONITOR}/instance/exit`, headers: bearer(logsViewer) })).statusCode).toBe(403);
    expect((await testApp.app.inject({ method: 'GET', url: `${MONITOR}/time` })).statusCode).toBe(401);
  });
});

describe.each(testBackends())('instance status with two nodes on one %s database', (backend) => {
  const nodes = twoNodesOnOneDatabase(backend);

  it('each node reports itself only (nodes do not register), each with its own start time', async () => {
    const token = (await tokenWith(nodes.a, 'admin')).token;
    const read = async (node: TestApp) => {
      const response = await node.app.inject({ method: 'GET', url: `${MONITOR}/instance/status`, headers: bearer(token) });
      expect(response.statusCode, response.body).toBe(200);
      return response.json() as { nodes: unknown[]; nodes_tracked: boolean; start_time: string; database: { reachable: boolean } };
    };
    const a = await read(nodes.a);
    const b = await read(nodes.b);
    expect(a.nodes).toHaveLength(1);
    expect(b.nodes).toHaveLength(1);
    expect([a.nodes_tracked, b.nodes_tracked]).toEqual([false, false]);
    expect(a.start_time).toBe(nodes.a.app.context.startTime.toISOString());
    expect(b.start_time).toBe(nodes.b.app.context.startTime.toISOString());
    expect([a.database.reachable, b.database.reachable]).toEqual([true, true]);
  });
});
