import { X509Certificate } from 'node:crypto';
import { parse } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateSigningRequest } from '../../src/lib/pki/csr.js';
import { DEFAULT_ACCESS_GROUP_ID } from '../../src/services/authorizer/access-group-repository.js';
import type { CarrierConfigFile, ExtenderConfigFile } from '../../src/services/authorizer/component-config.js';
import type { WebProxyConfigFile } from '../../src/services/authorizer/web-proxy-config.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const CLIENTS = '/local-user-store/api/v1/trusted-clients';
const AUTHORIZER = '/authorizer/api/v1';

/** Every key of the Go SDK's userstore.TrustedClient that GET answers (oauth_client_secret is never given out). */
const SDK_KEYS = [
  'id', 'type', 'secret', 'name', 'access_group_id', 'created', 'updated', 'updated_by', 'author', 'permissions', 'subnets', 'enabled', 'registered',
  'allow_repeated_registration', 'extender_address', 'oauth_client_id', 'group_id', 'web_proxy_address', 'web_proxy_port', 'web_proxy_extender_route_patterns',
  'data', 'routing_prefix', 'extender_mode', 'extender_ssh_address', 'extender_ssh_port', 'extender_public_key',
];

const EXTENDER = {
  type: 'EXTENDER',
  permissions: ['privx-extender'],
  enabled: true,
  access_group_id: DEFAULT_ACCESS_GROUP_ID,
  extender_address: ['192.0.2.10'],
  routing_prefix: 'site-a',
  extender_mode: 'ssh',
  extender_ssh_address: 'extender.example.com',
  extender_ssh_port: 2222,
  extender_public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9zb21lLWtleS1ieXRlcy1oZXJlLWZvci10ZXN0cw extender',
  web_proxy_extender_route_patterns: ['*.internal.example.com'],
};

describe.each(testBackends())('trusted clients as the PrivX SDKs read them, on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  let adminId: string;
  let manager: string;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    const adminToken = await tokenWith(testApp, 'admin');
    admin = adminToken.token;
    adminId = adminToken.credentials.id;
    manager = (await tokenWith(testApp, ['api-clients-manage'])).token;
  });
  afterAll(async () => testApp?.close());

  const db = () => testApp.app.context.database.db;
  let counter = 0;
  const name = (prefix: string) => `${prefix}-${(counter += 1)}`;
  const create = async (body: Record<string, unknown>, token = admin): Promise<string> => {
    const response = await testApp.app.inject({ method: 'POST', url: CLIENTS, headers: bearer(token), payload: body });
    expect(response.statusCode, response.body).toBe(201);
    return response.json().id as string;
  };
  const get = async (id: string) => {
    const response = await testApp.app.inject({ method: 'GET', url: `${CLIENTS}/${id}`, headers: bearer(admin) });
    expect(response.statusCode).toBe(200);
    return response.json();
  };
  const openSession = (kind: 'icap' | 'carrier' | 'extender', id: string, token = admin) =>
    testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/${kind}/conf/${id}`, headers: bearer(token) });
  const download = (kind: 'icap' | 'carrier' | 'extender', id: string, session: string) =>
    testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/${kind}/conf/${id}/${encodeURIComponent(session)}`, headers: bearer(admin) });

  it('empty subnets are stored and read back as [], from [] and from null', async () => {
    const fromEmpty = await create({ type: 'CARRIER', name: name('subnets-empty'), subnets: [] });
    const fromNull = await create({ type: 'CARRIER', name: name('subnets-null'), subnets: null });
    expect((await get(fromEmpty)).subnets).toEqual([]);
    expect((await get(fromNull)).subnets).toEqual([]);
    const stored = await db().selectFrom('trusted_clients').select('subnets').where('id', 'in', [fromEmpty, fromNull]).execute();
    expect(stored.map((row) => row.subnets)).toEqual(['[]', '[]']);
  });

  it('subnets set and then emptied by a PUT read back []', async () => {
    const id = await create({ type: 'CARRIER', name: name('subnets-cleared'), subnets: ['10.0.0.0/8'] });
    const before = await get(id);
    expect(before.subnets).toEqual(['10.0.0.0/8']);
    expect((await testApp.app.inject({ method: 'PUT', url: `${CLIENTS}/${id}`, headers: bearer(admin), payload: { ...before, subnets: [] } })).statusCode).toBe(200);
    expect((await get(id)).subnets).toEqual([]);
  });

  it('a web proxy with no subnets still registers from anywhere (empty means any)', async () => {
    const id = await create({ type: 'ICAP', name: name('proxy-any'), enabled: true, subnets: [] });
    const session = (await openSession('icap', id)).json().session_id as string;
    const config = parse((await download('icap', id, session)).body) as unknown as WebProxyConfigFile;
    const { csrPem } = await createCertificateSigningRequest({ commonName: 'anywhere-proxy' });
    const register = await testApp.app.inject({
      method: 'POST',
      url: `${AUTHORIZER}/icap/register`,
      remoteAddress: '203.0.113.77',
      payload: { trusted_client_id: id, secret: config.registration.secret, csr: csrPem },
    });
    expect(register.statusCode, register.body).toBe(200);
    expect((await get(id)).registered).toBe(true);
  });

  it('extender fields and access_group_id round-trip, and GET answers every SDK field', async () => {
    const id = await create({ ...EXTENDER, name: name('extender') });
    const client = await get(id);
    expect(Object.keys(client).sort()).toEqual([...SDK_KEYS].sort());
    expect(client).toMatchObject({ ...EXTENDER, id, secret: '', updated_by: '', author: adminId });
    expect(typeof client.extender_ssh_port).toBe('number');
  });

  it('a PUT of what GET answered keeps every field and records updated_by', async () => {
    const id = await create({ ...EXTENDER, name: name('extender-echo') });
    const before = await get(id);
    const group = await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/accessgroups`, headers: bearer(admin), payload: { name: name('group') } });
    expect(group.statusCode, group.body).toBe(201);
    const changed = { ...before, extender_mode: 'tcp', extender_ssh_port: 22, web_proxy_extender_route_patterns: ['a.example.com', 'b.example.com'], access_group_id: group.json().id as string };
    const put = await testApp.app.inject({ method: 'PUT', url: `${CLIENTS}/${id}`, headers: bearer(manager), payload: changed });
    expect(put.statusCode, put.body).toBe(200);
    const after = await get(id);
    expect(after).toEqual({ ...changed, updated: after.updated, updated_by: expect.any(String) });
    expect(after.updated_by).not.toBe('');
    expect(after.updated_by).not.toBe(adminId);
  });

  it('a Terraform-style extender update (a fresh object, no extender fields) clears them', async () => {
    const id = await create({ ...EXTENDER, name: name('extender-fresh') });
    const put = await testApp.app.inject({ method: 'PUT', url: `${CLIENTS}/${id}`, headers: bearer(admin), payload: { type: 'EXTENDER', name: name('extender-fresh'), enabled: true } });
    expect(put.statusCode).toBe(200);
    expect(await get(id)).toMatchObject({ extender_mode: '', extender_ssh_address: '', extender_ssh_port: 0, extender_public_key: '', web_proxy_extender_route_patterns: [], access_group_id: DEFAULT_ACCESS_GROUP_ID });
  });

  it('bad extender fields → 400 envelope and nothing stored', async () => {
    const count = async () => (await db().selectFrom('trusted_clients').select('id').execute()).length;
    const before = await count();
    for (const bad of [{ extender_ssh_port: 70000 }, { extender_ssh_port: '22' }, { extender_ssh_port: -1 }, { web_proxy_extender_route_patterns: 'x' }, { extender_mode: 'm'.repeat(51) }, { access_group_id: 7 }, { access_group_id: '0b0b0b0b-0000-4000-8000-00000000dead' }]) {
      const response = await testApp.app.inject({ method: 'POST', url: CLIENTS, headers: bearer(admin), payload: { type: 'EXTENDER', name: name('bad'), ...bad } });
      expect(response.statusCode, JSON.stringify(bad)).toBe(400);
      envelope(response);
    }
    expect(await count()).toBe(before);
  });

  it('carrier config: POST → 201 {session_id}; GET → the carrier TOML once, then 404', async () => {
    const id = await create({
      type: 'CARRIER',
      name: name('carrier'),
      enabled: true,
      permissions: ['privx-carrier'],
      web_proxy_address: '10.0.0.10',
      web_proxy_port: '8080',
      extender_address: ['192.0.2.20'],
      web_proxy_extender_route_patterns: ['*.corp.example.com'],
      routing_prefix: 'carrier-a',
    });
    const opened = await openSession('carrier', id);
    expect(opened.statusCode).toBe(201);
    expect(Object.keys(opened.json())).toEqual(['session_id']);
    const session = opened.json().session_id as string;

    const first = await download('carrier', id, session);
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-disposition']).toBe(`attachment; filename=carrier-${id}-config.toml`);
    const config = parse(first.body) as unknown as CarrierConfigFile;
    expect(config).toMatchObject({
      format_version: 1,
      component: 'carrier',
      registration: { trusted_client_id: id },
      carrier: { web_proxy_address: '10.0.0.10', web_proxy_port: 8080, extender_address: ['192.0.2.20'], web_proxy_extender_route_patterns: ['*.corp.example.com'], routing_prefix: 'carrier-a' },
    });
    expect(config.registration.secret.length).toBeGreaterThan(20);
    expect(first.body).not.toMatch(/PRIVATE KEY/);
    const icapCas = (await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas`, headers: bearer(admin) })).json();
    expect(config.ca.id).toBe(icapCas[0].id);

    const second = await download('carrier', id, session);
    expect(second.statusCode).toBe(404);
    expect(envelope(second).error_code).toContain('NOT_FOUND');
    const audit = await db().selectFrom('audit_events').select(['type', 'outcome']).where('object_id', '=', id).execute();
    expect(audit).toEqual(
      expect.arrayContaining([
        { type: 'carrier_config_session_created', outcome: 'success' },
        { type: 'carrier_config_downloaded', outcome: 'success' },
        { type: 'carrier_config_downloaded', outcome: 'failure' },
      ]),
    );
  });

  it('extender config: the TOML carries the extender fields and the extender CA; one download per session', async () => {
    const id = await create({ ...EXTENDER, name: name('extender-config') });
    const session = (await openSession('extender', id)).json().session_id as string;
    const response = await download('extender', id, session);
    expect(response.statusCode).toBe(200);
    const config = parse(response.body) as unknown as ExtenderConfigFile;
    expect(config).toMatchObject({
      component: 'extender',
      registration: { trusted_client_id: id },
      extender: { routing_prefix: 'site-a', extender_address: ['192.0.2.10'], mode: 'ssh', ssh_address: 'extender.example.com', ssh_port: 2222, public_key: EXTENDER.extender_public_key },
    });
    const extenderCas = (await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/extender/cas`, headers: bearer(admin) })).json();
    expect(config.ca).toMatchObject({ id: extenderCas[0].id, certificate: extenderCas[0].x509_certificate });
    expect(config.ca.crl_url).toBe(`${testApp.config.publicUrl}${AUTHORIZER}/extender/cas/${extenderCas[0].id}/crl`);
    expect((await download('extender', id, session)).statusCode).toBe(404);
  });

  it('a config route refuses a client of another type with 400, and unknown clients with 404', async () => {
    const carrier = await create({ type: 'CARRIER', name: name('carrier-wrong') });
    const extender = await create({ type: 'EXTENDER', name: name('extender-wrong') });
    for (const [kind, id] of [['extender', carrier], ['carrier', extender], ['icap', carrier]] as const) {
      const response = await openSession(kind, id);
      expect(response.statusCode, `${kind} ${id}`).toBe(400);
      expect(envelope(response).property).toBe('trusted_client_id');
    }
    expect((await openSession('extender', 'no-such-client')).statusCode).toBe(404);
    // A session of one kind does not download under another client's type.
    const session = (await openSession('carrier', carrier)).json().session_id as string;
    expect((await download('extender', carrier, session)).statusCode).toBe(400);
  });

  it('carrier/conf downloads a web proxy’s config too (the path the PrivX Python SDK uses)', async () => {
    const id = await create({ type: 'ICAP', name: name('proxy-python'), enabled: true });
    const session = (await openSession('icap', id)).json().session_id as string;
    const response = await download('carrier', id, session);
    expect(response.statusCode).toBe(200);
    expect((parse(response.body) as unknown as WebProxyConfigFile).registration.register_url).toBe(`${testApp.config.publicUrl}${AUTHORIZER}/icap/register`);
  });

  it('opening a config session needs every permission the client holds', async () => {
    const id = await create({ type: 'EXTENDER', name: name('extender-privileged'), permissions: ['users-manage'] });
    const response = await openSession('extender', id, manager);
    expect(response.statusCode).toBe(403);
    expect(envelope(response).error_code).toBe('PERMISSION_DENIED');
    expect((await openSession('extender', id, admin)).statusCode).toBe(201);
  });

  it('GET /extender-clients lists the extenders with their routing fields only (the SDK’s ExtenderClient)', async () => {
    const extenderName = name('extender-listed');
    await create({ ...EXTENDER, name: extenderName });
    await create({ type: 'CARRIER', name: name('carrier-not-listed') });
    const response = await testApp.app.inject({ method: 'GET', url: '/local-user-store/api/v1/extender-clients', headers: bearer(manager) });
    expect(response.statusCode).toBe(200);
    const { count, items } = response.json() as { count: number; items: Array<Record<string, unknown>> };
    expect(count).toBe(items.length);
    expect(items.every((item) => item.type === 'EXTENDER')).toBe(true);
    expect(items.find((item) => item.name === extenderName)).toEqual({
      type: 'EXTENDER',
      name: extenderName,
      routing_prefix: EXTENDER.routing_prefix,
      web_proxy_extender_route_patterns: EXTENDER.web_proxy_extender_route_patterns,
      extender_mode: EXTENDER.extender_mode,
      extender_ssh_address: EXTENDER.extender_ssh_address,
      extender_ssh_port: EXTENDER.extender_ssh_port,
      extender_public_key: EXTENDER.extender_public_key,
    });
    const hostsManager = (await tokenWith(testApp, ['hosts-manage'])).token;
    expect((await testApp.app.inject({ method: 'GET', url: '/local-user-store/api/v1/extender-clients', headers: bearer(hostsManager) })).statusCode).toBe(403);
  });

  it('the extender CA: list, one, CRL, trust anchor and CA config; kept apart from the web-proxy CA', async () => {
    const list = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/extender/cas`, headers: bearer(manager) });
    expect(list.statusCode).toBe(200);
    const cas = list.json() as Array<{ id: string; type: string; x509_certificate: string }>;
    expect(cas).toHaveLength(1);
    expect(cas[0]!.type).toBe('EXTENDER');
    const icap = (await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas`, headers: bearer(manager) })).json() as Array<{ id: string }>;
    expect(icap.map((ca) => ca.id)).not.toContain(cas[0]!.id);
    expect((await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas/${cas[0]!.id}`, headers: bearer(manager) })).statusCode).toBe(404);
    expect((await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/extender/cas/${icap[0]!.id}`, headers: bearer(manager) })).statusCode).toBe(404);

    const one = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/extender/cas/${cas[0]!.id}`, headers: bearer(manager) });
    expect(one.json()).toEqual(cas[0]);
    expect(new X509Certificate(cas[0]!.x509_certificate).subject).toContain('extender');

    const crl = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/extender/cas/${cas[0]!.id}/crl`, headers: bearer(manager) });
    expect(crl.statusCode).toBe(200);
    expect(crl.headers['content-type']).toContain('application/pkix-crl');
    const pem = await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/extender/cas/${cas[0]!.id}/crl?format=pem`, headers: bearer(manager) });
    expect(pem.body).toContain('BEGIN X509 CRL');

    const anchor = (await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/extender-trust-anchor`, headers: bearer(manager) })).json();
    expect(anchor).toMatchObject({ trust_anchor: cas[0]!.x509_certificate });
    expect(anchor.trust_anchor_sha256).toBeTruthy();

    const config = (await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/extender/cas/config`, headers: bearer(manager) })).json();
    expect(config).toMatchObject({ name: 'extender', ca_id: cas[0]!.id, primary_ca_id: cas[0]!.id });
    expect(new Date(config.updated).toISOString()).toBe(config.updated);
    const icapConfig = (await testApp.app.inject({ method: 'GET', url: `${AUTHORIZER}/icap/cas/config`, headers: bearer(manager) })).json();
    expect(icapConfig).toMatchObject({ name: 'icap', ca_id: icap[0]!.id });
  });
});
