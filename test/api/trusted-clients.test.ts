import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const BASE = '/local-user-store/api/v1/trusted-clients';

describe.each(testBackends())('trusted clients on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  let manager: string;
  let hostsManager: string;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
    manager = (await tokenWith(testApp, ['api-clients-manage'])).token;
    hostsManager = (await tokenWith(testApp, ['hosts-manage'])).token;
  });
  afterAll(async () => testApp?.close());

  const db = () => testApp.app.context.database.db;
  const count = async () => (await db().selectFrom('trusted_clients').select('id').execute()).length;

  it('create → 201 {id}; GET round-trips every field with secret "" and no subnets read back as []', async () => {
    const body = {
      type: 'ICAP',
      name: 'proxy-round-trip',
      permissions: ['privx-web-proxy'],
      enabled: true,
      allow_repeated_registration: true,
      web_proxy_address: 'proxy.example.com',
      web_proxy_port: '3128',
      routing_prefix: 'rp',
      extender_address: ['10.0.0.1'],
      group_id: 'g1',
      data: '{"k":1}',
    };
    const created = await testApp.app.inject({ method: 'POST', url: BASE, headers: bearer(manager), payload: body });
    expect(created.statusCode).toBe(201);
    const { id } = created.json() as { id: string };
    expect(Object.keys(created.json())).toEqual(['id']);

    const got = await testApp.app.inject({ method: 'GET', url: `${BASE}/${id}`, headers: bearer(manager) });
    expect(got.statusCode).toBe(200);
    const client = got.json();
    expect(client).toMatchObject({ ...body, id, secret: '', subnets: [], registered: false, oauth_client_id: '' });
    expect(Object.keys(client).sort()).toEqual(
      [
        'id', 'type', 'secret', 'name', 'permissions', 'subnets', 'enabled', 'registered', 'allow_repeated_registration', 'oauth_client_id',
        'web_proxy_address', 'web_proxy_port', 'routing_prefix', 'extender_address', 'group_id', 'data', 'created', 'updated', 'author',
        'access_group_id', 'extender_mode', 'web_proxy_extender_route_patterns', 'extender_ssh_address', 'extender_ssh_port', 'extender_public_key', 'updated_by',
      ].sort(),
    );
    expect(typeof client.web_proxy_port).toBe('string');
    expect(new Date(client.created).toISOString()).toBe(client.created);

    // PUT the GET answer back, with two changes: everything else stays.
    const put = await testApp.app.inject({ method: 'PUT', url: `${BASE}/${id}`, headers: bearer(manager), payload: { ...client, name: 'proxy-renamed', subnets: ['10.1.0.0/16'] } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({});
    const after = (await testApp.app.inject({ method: 'GET', url: `${BASE}/${id}`, headers: bearer(manager) })).json();
    expect(after).toEqual({ ...client, name: 'proxy-renamed', subnets: ['10.1.0.0/16'], updated: after.updated, updated_by: after.updated_by });

    const list = await testApp.app.inject({ method: 'GET', url: BASE, headers: bearer(admin) });
    expect(list.statusCode).toBe(200);
    const items = list.json().items as Array<{ id: string; secret: string }>;
    expect(list.json().count).toBe(items.length);
    expect(items.find((item) => item.id === id)).toMatchObject({ secret: '', name: 'proxy-renamed' });

    const audit = await db().selectFrom('audit_events').select(['type', 'details']).where('object_id', '=', id).execute();
    expect(audit.map((row) => row.type)).toEqual(expect.arrayContaining(['trusted_client_created', 'trusted_client_updated']));
  });

  it('a Go-SDK-style body with nulls for arrays is accepted', async () => {
    const response = await testApp.app.inject({ method: 'POST', url: BASE, headers: bearer(manager), payload: { type: 'EXTENDER', name: 'ext-nulls', permissions: null, subnets: null, extender_address: null } });
    expect(response.statusCode).toBe(201);
    const client = (await testApp.app.inject({ method: 'GET', url: `${BASE}/${response.json().id}`, headers: bearer(manager) })).json();
    expect(client).toMatchObject({ permissions: [], subnets: [], extender_address: [], enabled: false });
  });

  it('a duplicate name → 409 VALUE_DUPLICATE and nothing stored', async () => {
    await testApp.app.inject({ method: 'POST', url: BASE, headers: bearer(manager), payload: { type: 'ICAP', name: 'dup-name' } });
    const before = await count();
    const response = await testApp.app.inject({ method: 'POST', url: BASE, headers: bearer(manager), payload: { type: 'ICAP', name: 'dup-name' } });
    expect(response.statusCode).toBe(409);
    expect(envelope(response)).toMatchObject({ error_code: 'VALUE_DUPLICATE', property: 'name' });
    expect(await count()).toBe(before);
  });

  it.each([
    [{ name: 'x' }, 'REQUIRED_VALUE_MISSING', 'type'],
    [{ type: 'ICAP' }, 'REQUIRED_VALUE_MISSING', 'name'],
    [{ type: 'NOPE', name: 'x' }, undefined, 'type'],
    [{ type: 'ICAP', name: 'x', enabled: 'yes' }, 'VALUE_INCORRECT_TYPE', 'enabled'],
    [{ type: 'ICAP', name: 'x', web_proxy_port: 3128 }, 'VALUE_INCORRECT_TYPE', 'web_proxy_port'],
    [{ type: 'ICAP', name: 'x', web_proxy_port: '99999' }, 'VALUE_OUT_OF_BOUNDS', 'web_proxy_port'],
    [{ type: 'ICAP', name: 'x', subnets: ['10.0.0.0/33'] }, 'VALUE_INCORRECT_FORMAT', 'subnets[0]'],
    [{ type: 'ICAP', name: 'x', subnets: ['not-a-cidr'] }, 'VALUE_INCORRECT_FORMAT', 'subnets[0]'],
    [{ type: 'ICAP', name: 'x', surprise: true }, 'INVALID_REQUEST_DATA', 'surprise'],
    [{ type: 'ICAP', name: '' }, 'VALUE_OUT_OF_BOUNDS', 'name'],
  ])('invalid body %j → 400 envelope, nothing stored', async (payload, code, property) => {
    const before = await count();
    const response = await testApp.app.inject({ method: 'POST', url: BASE, headers: bearer(manager), payload });
    expect(response.statusCode).toBe(400);
    const error = envelope(response);
    if (code) expect(error.error_code).toBe(code);
    expect(error.property).toBe(property);
    expect(await count()).toBe(before);
  });

  it('an invalid update → 400 and the stored client is unchanged; the type cannot change', async () => {
    const { id } = (await testApp.app.inject({ method: 'POST', url: BASE, headers: bearer(manager), payload: { type: 'ICAP', name: 'stable', subnets: ['192.168.0.0/24'] } })).json();
    const before = (await testApp.app.inject({ method: 'GET', url: `${BASE}/${id}`, headers: bearer(manager) })).json();
    const bad = await testApp.app.inject({ method: 'PUT', url: `${BASE}/${id}`, headers: bearer(manager), payload: { type: 'ICAP', name: 'stable', subnets: ['bad'] } });
    expect(bad.statusCode).toBe(400);
    const retype = await testApp.app.inject({ method: 'PUT', url: `${BASE}/${id}`, headers: bearer(manager), payload: { type: 'EXTENDER', name: 'stable' } });
    expect(retype.statusCode).toBe(400);
    expect(envelope(retype)).toMatchObject({ error_code: 'INVALID_REQUEST_DATA', property: 'type' });
    const after = (await testApp.app.inject({ method: 'GET', url: `${BASE}/${id}`, headers: bearer(manager) })).json();
    expect(after).toEqual(before);
  });

  it('unknown ids → 404 with a NOT_FOUND code; no token → 401; hosts-manage only → 403', async () => {
    for (const method of ['GET', 'PUT', 'DELETE'] as const) {
      const response = await testApp.app.inject({ method, url: `${BASE}/no-such-client`, headers: bearer(manager), ...(method === 'PUT' ? { payload: { type: 'ICAP', name: 'n' } } : {}) });
      expect(response.statusCode).toBe(404);
      expect(envelope(response).error_code).toContain('NOT_FOUND');
    }
    expect((await testApp.app.inject({ method: 'GET', url: BASE })).statusCode).toBe(401);
    const denied = await testApp.app.inject({ method: 'POST', url: BASE, headers: bearer(hostsManager), payload: { type: 'ICAP', name: 'nope' } });
    expect(denied.statusCode).toBe(403);
    expect(envelope(denied).error_code).toBe('PERMISSION_DENIED');
  });

  it('delete → 200 {} and the client is gone, audited', async () => {
    const { id } = (await testApp.app.inject({ method: 'POST', url: BASE, headers: bearer(manager), payload: { type: 'CARRIER', name: 'to-delete' } })).json();
    const response = await testApp.app.inject({ method: 'DELETE', url: `${BASE}/${id}`, headers: bearer(manager) });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({});
    expect((await testApp.app.inject({ method: 'GET', url: `${BASE}/${id}`, headers: bearer(manager) })).statusCode).toBe(404);
    const audit = await db().selectFrom('audit_events').select('type').where('object_id', '=', id).where('type', '=', 'trusted_client_deleted').execute();
    expect(audit).toHaveLength(1);
  });
});
