import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ACCESS_GROUP_ID } from '../../src/services/authorizer/access-group-repository.js';
import { privateKeyContext } from '../../src/services/authorizer/access-group-ca.js';
import { ensureAccessGroupCas } from '../../src/services/authorizer/access-group-use-cases.js';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, envelope, tokenWith, twoNodesOnOneDatabase, type TestApp } from '../helpers/app.js';

const GROUPS = '/authorizer/api/v1/accessgroups';
const CAS = '/authorizer/api/v1/cas';
const HOSTS = '/host-store/api/v1/hosts';

describe.each(testBackends())('access groups on %s', (backend) => {
  let testApp: TestApp;
  let manager: string;
  let managerId: string;
  let hostsViewer: string;
  let hostsManager: string;
  let usersViewer: string;

  const db = () => testApp.app.context.database.db;
  const inject = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, token = manager) =>
    testApp.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as object }) });
  const groupCount = async () => Number((await db().selectFrom('access_groups').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const create = async (body: Record<string, unknown>): Promise<string> => {
    const response = await inject('POST', GROUPS, body);
    expect(response.statusCode, response.body).toBe(201);
    return response.json().id as string;
  };

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    const managed = await tokenWith(testApp, ['access-groups-manage']);
    manager = managed.token;
    managerId = managed.credentials.id;
    hostsViewer = (await tokenWith(testApp, ['hosts-view'])).token;
    hostsManager = (await tokenWith(testApp, ['hosts-manage'])).token;
    usersViewer = (await tokenWith(testApp, ['users-view'])).token;
  });
  afterAll(async () => testApp?.close());

  it('the default group exists with its fixed id, default = true and a CA whose private key is sealed', async () => {
    const response = await inject('GET', `${GROUPS}/${DEFAULT_ACCESS_GROUP_ID}`);
    expect(response.statusCode).toBe(200);
    const group = response.json();
    expect(group).toMatchObject({ id: DEFAULT_ACCESS_GROUP_ID, name: 'Default', default: true, key_type: 'ecdsa' });
    expect(group.ca_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(group.primary_ca_id).toBe(group.ca_id);

    const cas = await inject('GET', `${CAS}?access_group_id=${DEFAULT_ACCESS_GROUP_ID}`);
    expect(cas.statusCode).toBe(200);
    expect(cas.json()).toHaveLength(1);
    expect(cas.json()[0]).toMatchObject({ id: group.ca_id, group_id: DEFAULT_ACCESS_GROUP_ID, access_group_id: DEFAULT_ACCESS_GROUP_ID, type: 'ecdsa-sha2-nistp256', size: 256 });
    expect(cas.json()[0].public_key_string).toMatch(/^ecdsa-sha2-nistp256 AAAA\S+ /);
    expect(cas.json()[0].x509_certificate).toContain('BEGIN CERTIFICATE');

    const row = await db().selectFrom('access_group_cas').selectAll().where('id', '=', group.ca_id).executeTakeFirstOrThrow();
    expect(row.private_key_sealed).not.toContain('PRIVATE KEY');
    const privateKey = testApp.app.context.installationKey.openText(row.private_key_sealed, privateKeyContext(row.id));
    const publicOfPrivate = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    const publicOfCertificate = new crypto.X509Certificate(row.certificate_pem).publicKey.export({ type: 'spki', format: 'der' });
    expect(publicOfPrivate.equals(publicOfCertificate)).toBe(true);
    // Sealed for its own row only.
    expect(() => testApp.app.context.installationKey.openText(row.private_key_sealed, privateKeyContext('another'))).toThrow();

    const list = await inject('GET', GROUPS);
    expect(list.json().items.filter((item: { default: boolean }) => item.default)).toHaveLength(1);
  });

  it('the default group cannot be deleted: 400 envelope, nothing changes', async () => {
    const before = await groupCount();
    const response = await inject('DELETE', `${GROUPS}/${DEFAULT_ACCESS_GROUP_ID}`);
    expect(response.statusCode).toBe(400);
    expect(envelope(response)).toMatchObject({ error_code: 'INVALID_REQUEST_DATA', property: 'id' });
    expect(await groupCount()).toBe(before);
    expect((await inject('GET', `${GROUPS}/${DEFAULT_ACCESS_GROUP_ID}`)).statusCode).toBe(200);
  });

  it('create → read → update (PUT of the GET answer) → read → delete → 404, each write audited', async () => {
    const created = await inject('POST', GROUPS, {
      name: 'crud-group',
      comment: 'first',
      host_certificate_trust_anchors: '',
      winrm_host_certificate_trust_anchors: '',
      db_host_certificate_trust_anchors: '',
      primary_ca_id: '',
      key_type: '',
    });
    expect(created.statusCode).toBe(201);
    expect(Object.keys(created.json())).toEqual(['id']);
    const id = created.json().id as string;

    const read = await inject('GET', `${GROUPS}/${id}`);
    expect(read.statusCode).toBe(200);
    const group = read.json();
    expect(group).toMatchObject({ id, name: 'crud-group', comment: 'first', default: false, author: managerId, updated_by: managerId, key_type: 'ecdsa' });
    expect(Object.keys(group).sort()).toEqual(
      ['id', 'name', 'comment', 'host_certificate_trust_anchors', 'winrm_host_certificate_trust_anchors', 'db_host_certificate_trust_anchors', 'ca_id', 'primary_ca_id', 'key_type', 'default', 'author', 'created', 'updated', 'updated_by'].sort(),
    );
    expect(group.ca_id).not.toBe('');
    expect(new Date(group.created).toISOString()).toBe(group.created);

    const anchors = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const put = await inject('PUT', `${GROUPS}/${id}`, { ...group, name: 'crud-group-renamed', comment: 'second', host_certificate_trust_anchors: anchors, default: true, author: 'someone', unknown_field: 1 });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toEqual({});
    const after = (await inject('GET', `${GROUPS}/${id}`)).json();
    expect(after).toEqual({ ...group, name: 'crud-group-renamed', comment: 'second', host_certificate_trust_anchors: anchors, updated: after.updated });

    const deleted = await inject('DELETE', `${GROUPS}/${id}`);
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual({});
    const gone = await inject('GET', `${GROUPS}/${id}`);
    expect(gone.statusCode).toBe(404);
    expect(envelope(gone).error_code).toBe('OBJECT_NOT_FOUND');
    expect(await db().selectFrom('access_group_cas').select('id').where('access_group_id', '=', id).execute()).toEqual([]);

    const audit = await db().selectFrom('audit_events').select(['type', 'principal_id']).where('object_id', '=', id).execute();
    expect(audit.map((row) => row.type).sort()).toEqual(['access_group_created', 'access_group_deleted', 'access_group_updated']);
    expect(audit.every((row) => row.principal_id === managerId)).toBe(true);
  });

  it('bad input is a 400 envelope and stores nothing; unknown ids are 404', async () => {
    const before = await groupCount();
    for (const body of [{}, { name: '' }, { name: 'bad\u0000name' }, { name: 'x', key_type: 'rsa' }, { name: 'x', comment: 5 }]) {
      const response = await inject('POST', GROUPS, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(envelope(response).error_code).toMatch(/^(REQUIRED_VALUE_MISSING|VALUE_|INVALID_REQUEST_DATA|BAD_REQUEST)/);
    }
    expect(await groupCount()).toBe(before);

    const unknown = crypto.randomUUID();
    expect((await inject('GET', `${GROUPS}/${unknown}`)).statusCode).toBe(404);
    expect((await inject('PUT', `${GROUPS}/${unknown}`, { name: 'nope' })).statusCode).toBe(404);
    expect((await inject('DELETE', `${GROUPS}/${unknown}`)).statusCode).toBe(404);
    expect((await inject('POST', `${GROUPS}/${unknown}/cas`)).statusCode).toBe(404);
    expect(await groupCount()).toBe(before);
  });

  it('a duplicate name → 409 VALUE_DUPLICATE, on create and on rename', async () => {
    const id = await create({ name: 'dup-a' });
    await create({ name: 'dup-b' });
    const before = await groupCount();
    const again = await inject('POST', GROUPS, { name: 'dup-a' });
    expect(again.statusCode).toBe(409);
    expect(envelope(again)).toMatchObject({ error_code: 'VALUE_DUPLICATE', property: 'name' });
    expect(await groupCount()).toBe(before);
    const rename = await inject('PUT', `${GROUPS}/${id}`, { name: 'dup-b' });
    expect(rename.statusCode).toBe(409);
    expect((await inject('GET', `${GROUPS}/${id}`)).json().name).toBe('dup-a');
  });

  it('list pages and sorts; search matches every keyword in name or comment', async () => {
    await create({ name: 'search-alpha', comment: 'Finance servers' });
    await create({ name: 'search-beta', comment: 'finance and HR' });
    await create({ name: 'search-gamma', comment: 'lab 100%' });

    const all = (await inject('GET', `${GROUPS}?sortkey=name&sortdir=desc`)).json();
    const names = all.items.map((item: { name: string }) => item.name);
    expect(names).toEqual([...names].sort().reverse());
    expect(all.count).toBe(await groupCount());

    const page = (await inject('GET', `${GROUPS}?sortkey=name&offset=1&limit=1`)).json();
    expect(page.count).toBe(all.count);
    expect(page.items.map((item: { name: string }) => item.name)).toEqual([[...names].sort()[1]]);

    const byId = (await inject('GET', GROUPS)).json().items.map((item: { id: string }) => item.id);
    expect(byId).toEqual([...byId].sort());

    const search = async (body: unknown, query = '') => (await inject('POST', `${GROUPS}/search${query}`, body, hostsViewer)).json();
    expect((await search({ keywords: 'FINANCE' })).items.map((item: { name: string }) => item.name).sort()).toEqual(['search-alpha', 'search-beta']);
    expect((await search({ keywords: 'finance, hr' })).items.map((item: { name: string }) => item.name)).toEqual(['search-beta']);
    expect((await search({ keywords: '100%' })).items.map((item: { name: string }) => item.name)).toEqual(['search-gamma']);
    expect((await search({ keywords: '_' })).count).toBe(0);
    const limited = await search({ keywords: 'search-' }, '?limit=2&sortkey=name');
    expect(limited.count).toBe(3);
    expect(limited.items.map((item: { name: string }) => item.name)).toEqual(['search-alpha', 'search-beta']);
    // No body searches with no filter; an unknown filter is refused.
    const noBody = await testApp.app.inject({ method: 'POST', url: `${GROUPS}/search`, headers: { ...bearer(manager), 'content-type': 'application/json' } });
    expect(noBody.statusCode).toBe(200);
    expect(noBody.json().count).toBe(all.count);
    expect((await inject('POST', `${GROUPS}/search`, { name: 'x' })).statusCode).toBe(400);
    expect((await inject('GET', `${GROUPS}?sortkey=comment`)).statusCode).toBe(400);
  });

  it('permissions: readers may read, only access-groups-manage writes; others get 403', async () => {
    expect((await inject('GET', GROUPS, undefined, hostsViewer)).statusCode).toBe(200);
    expect((await inject('GET', `${GROUPS}/${DEFAULT_ACCESS_GROUP_ID}`, undefined, hostsViewer)).statusCode).toBe(200);
    const before = await groupCount();
    for (const [method, url, body] of [
      ['POST', GROUPS, { name: 'forbidden' }],
      ['PUT', `${GROUPS}/${DEFAULT_ACCESS_GROUP_ID}`, { name: 'hijacked' }],
      ['DELETE', `${GROUPS}/${DEFAULT_ACCESS_GROUP_ID}`, undefined],
      ['POST', `${GROUPS}/${DEFAULT_ACCESS_GROUP_ID}/cas`, {}],
    ] as const) {
      const response = await inject(method, url, body, hostsManager);
      expect(response.statusCode, `${method} ${url}`).toBe(403);
      expect(envelope(response).error_code).toBe('PERMISSION_DENIED');
    }
    expect((await inject('GET', GROUPS, undefined, usersViewer)).statusCode).toBe(403);
    expect((await inject('GET', CAS, undefined, usersViewer)).statusCode).toBe(403);
    expect((await testApp.app.inject({ method: 'GET', url: GROUPS })).statusCode).toBe(401);
    expect(await groupCount()).toBe(before);
    expect((await inject('GET', `${GROUPS}/${DEFAULT_ACCESS_GROUP_ID}`)).json().name).toBe('Default');
  });

  it('CA keys: renew adds one (a JSON string id), PUT primary_ca_id switches, the primary cannot be removed, others can', async () => {
    const id = await create({ name: 'ca-rotation' });
    const first = (await inject('GET', `${GROUPS}/${id}`)).json().ca_id as string;

    // The Python SDK sends no body.
    const renewed = await testApp.app.inject({ method: 'POST', url: `${GROUPS}/${id}/cas`, headers: { ...bearer(manager), 'content-type': 'application/json' } });
    expect(renewed.statusCode).toBe(200);
    const second = renewed.json() as string;
    expect(typeof second).toBe('string');
    expect(second).not.toBe(first);
    expect((await inject('POST', `${GROUPS}/${id}/cas`, { key_type: 'dsa' })).statusCode).toBe(400);

    const cas = (await inject('GET', `${CAS}?access_group_id=${id}`, undefined, hostsViewer)).json() as Array<{ id: string }>;
    expect(cas.map((ca) => ca.id).sort()).toEqual([first, second].sort());
    expect((await inject('GET', `${GROUPS}/${id}`)).json().ca_id).toBe(first);

    const removePrimary = await inject('DELETE', `${GROUPS}/${id}/cas/${first}`);
    expect(removePrimary.statusCode).toBe(409);
    expect(envelope(removePrimary).error_code).toBe('CONFLICT');

    const otherGroupCa = (await inject('GET', `${GROUPS}/${DEFAULT_ACCESS_GROUP_ID}`)).json().ca_id as string;
    const group = (await inject('GET', `${GROUPS}/${id}`)).json();
    const foreign = await inject('PUT', `${GROUPS}/${id}`, { ...group, primary_ca_id: otherGroupCa });
    expect(foreign.statusCode).toBe(400);
    expect(envelope(foreign).property).toBe('primary_ca_id');
    expect((await inject('DELETE', `${GROUPS}/${id}/cas/${otherGroupCa}`)).statusCode).toBe(404);

    expect((await inject('PUT', `${GROUPS}/${id}`, { ...group, primary_ca_id: second })).statusCode).toBe(200);
    expect((await inject('GET', `${GROUPS}/${id}`)).json()).toMatchObject({ ca_id: second, primary_ca_id: second });
    expect((await inject('DELETE', `${GROUPS}/${id}/cas/${first}`)).statusCode).toBe(200);
    expect(((await inject('GET', `${CAS}?access_group_id=${id}`)).json() as Array<{ id: string }>).map((ca) => ca.id)).toEqual([second]);

    const download = await inject('GET', `${CAS}/${second}`);
    expect(download.statusCode).toBe(200);
    expect(download.body).toContain('-----BEGIN CERTIFICATE-----');
    expect(download.headers['content-disposition']).toContain('attachment');
    expect((await inject('GET', `${CAS}/${first}`)).statusCode).toBe(404);
    const crl = await inject('GET', `${CAS}/${second}/crl?format=pem`);
    expect(crl.statusCode).toBe(200);
    expect(crl.body).toContain('-----BEGIN X509 CRL-----');
    const der = await inject('GET', `${CAS}/${second}/crl`);
    expect(der.statusCode).toBe(200);
    expect(der.headers['content-type']).toBe('application/pkix-crl');
    expect((await inject('GET', `${CAS}/${first}/crl`)).statusCode).toBe(404);

    const audit = await db().selectFrom('audit_events').select('type').where('object_id', '=', id).execute();
    expect(audit.map((row) => row.type).sort()).toEqual(['access_group_ca_created', 'access_group_ca_deleted', 'access_group_created', 'access_group_updated']);
    const details = await db().selectFrom('audit_events').select('details').where('object_id', '=', id).execute();
    expect(JSON.stringify(details)).not.toMatch(/PRIVATE KEY|pgk1\./);
  });

  it('hosts: access_group_id defaults to the default group, round-trips, must exist (400), and pins the group (409 on delete)', async () => {
    const plain = await inject('POST', HOSTS, { common_name: 'ag-plain.example.com', addresses: ['10.9.0.1'] }, hostsManager);
    expect(plain.statusCode).toBe(201);
    expect((await inject('GET', `${HOSTS}/${plain.json().id}`, undefined, hostsManager)).json().access_group_id).toBe(DEFAULT_ACCESS_GROUP_ID);

    const groupId = await create({ name: 'host-group' });
    const host = { common_name: 'ag-host.example.com', addresses: ['10.9.0.2'], access_group_id: groupId };
    const created = await inject('POST', HOSTS, host, hostsManager);
    expect(created.statusCode).toBe(201);
    const hostId = created.json().id as string;
    const read = (await inject('GET', `${HOSTS}/${hostId}`, undefined, hostsManager)).json();
    expect(read.access_group_id).toBe(groupId);
    expect((await db().selectFrom('hosts').select('access_group_id').where('id', '=', hostId).executeTakeFirstOrThrow()).access_group_id).toBe(groupId);

    const hostCount = async () => (await db().selectFrom('hosts').select('id').execute()).length;
    const before = await hostCount();
    const unknown = await inject('POST', HOSTS, { ...host, common_name: 'ag-unknown.example.com', access_group_id: crypto.randomUUID() }, hostsManager);
    expect(unknown.statusCode).toBe(400);
    expect(envelope(unknown)).toMatchObject({ error_code: 'INVALID_REQUEST_DATA', property: 'access_group_id' });
    expect(await hostCount()).toBe(before);
    const badUpdate = await inject('PUT', `${HOSTS}/${hostId}`, { ...read, access_group_id: 'no-such-group' }, hostsManager);
    expect(badUpdate.statusCode).toBe(400);
    expect((await inject('GET', `${HOSTS}/${hostId}`, undefined, hostsManager)).json().access_group_id).toBe(groupId);

    const inUse = await inject('DELETE', `${GROUPS}/${groupId}`);
    expect(inUse.statusCode).toBe(409);
    expect(envelope(inUse)).toMatchObject({ error_code: 'CONFLICT' });
    expect(envelope(inUse).error_message).toContain('1 hosts');

    // Moving the host (empty = the default group) frees the group.
    expect((await inject('PUT', `${HOSTS}/${hostId}`, { ...read, access_group_id: '' }, hostsManager)).statusCode).toBe(200);
    expect((await inject('GET', `${HOSTS}/${hostId}`, undefined, hostsManager)).json().access_group_id).toBe(DEFAULT_ACCESS_GROUP_ID);
    expect((await inject('DELETE', `${GROUPS}/${groupId}`)).statusCode).toBe(200);
  });

  it('trusted clients carry access_group_id (default group) and pin their group too', async () => {
    const admin = (await tokenWith(testApp, 'admin')).token;
    const created = await inject('POST', '/local-user-store/api/v1/trusted-clients', { type: 'EXTENDER', name: 'ag-extender' }, admin);
    expect(created.statusCode).toBe(201);
    const clientId = created.json().id as string;
    const row = await db().selectFrom('trusted_clients').select('access_group_id').where('id', '=', clientId).executeTakeFirstOrThrow();
    expect(row.access_group_id).toBe(DEFAULT_ACCESS_GROUP_ID);

    const groupId = await create({ name: 'client-group' });
    await db().updateTable('trusted_clients').set({ access_group_id: groupId }).where('id', '=', clientId).execute();
    const inUse = await inject('DELETE', `${GROUPS}/${groupId}`);
    expect(inUse.statusCode).toBe(409);
    expect(envelope(inUse).error_message).toContain('1 trusted clients');
  });

  it('roles: access_group_id must name an existing group (400, nothing stored) and pins the group (409 on delete)', async () => {
    const admin = (await tokenWith(testApp, 'admin')).token;
    const roleCount = async () => (await db().selectFrom('roles').select('id').execute()).length;
    const before = await roleCount();
    const unknown = await inject('POST', '/role-store/api/v1/roles', { name: 'ag-role-unknown', permissions: ['users-view'], access_group_id: crypto.randomUUID() }, admin);
    expect(unknown.statusCode).toBe(400);
    expect(envelope(unknown)).toMatchObject({ error_code: 'INVALID_REQUEST_DATA', property: 'access_group_id' });
    expect(await roleCount()).toBe(before);

    const groupId = await create({ name: 'role-group' });
    const role = await inject('POST', '/role-store/api/v1/roles', { name: 'ag-role', permissions: ['users-view'], access_group_id: groupId }, admin);
    expect(role.statusCode, role.body).toBe(201);
    const inUse = await inject('DELETE', `${GROUPS}/${groupId}`);
    expect(inUse.statusCode).toBe(409);
    expect(envelope(inUse).error_message).toContain('1 roles');
  });
});

describe.each(testBackends())('access groups under concurrency on %s', (backend) => {
  const nodes = twoNodesOnOneDatabase(backend);

  it('a group delete racing a host joining it: exactly one of them succeeds', async () => {
    const { a, b } = nodes;
    const manager = (await tokenWith(a, ['access-groups-manage'])).token;
    const hostsManager = (await tokenWith(a, ['hosts-manage'])).token;
    for (let round = 0; round < 6; round++) {
      const created = await a.app.inject({ method: 'POST', url: GROUPS, headers: bearer(manager), payload: { name: `race-${round}` } });
      const groupId = created.json().id as string;
      const [deleted, joined] = await Promise.all([
        a.app.inject({ method: 'DELETE', url: `${GROUPS}/${groupId}`, headers: bearer(manager) }),
        b.app.inject({ method: 'POST', url: HOSTS, headers: bearer(hostsManager), payload: { common_name: `race-${round}.example.com`, access_group_id: groupId } }),
      ]);
      const outcome = `${deleted.statusCode}/${joined.statusCode}`;
      expect(['200/400', '409/201'], outcome).toContain(outcome);
    }
    // No host belongs to a group that does not exist.
    const orphans = await a.app.context.database.db
      .selectFrom('hosts')
      .select('hosts.id')
      .where((eb) => eb.not(eb.exists(eb.selectFrom('access_groups').select('access_groups.id').whereRef('access_groups.id', '=', 'hosts.access_group_id'))))
      .execute();
    expect(orphans).toEqual([]);
  });

  it('two nodes making the default group’s first CA at once keep exactly one', async () => {
    const { a, b } = nodes;
    const db = a.app.context.database.db;
    // As right after migration 0008: the default group without a CA.
    await db.updateTable('access_groups').set({ primary_ca_id: null }).where('id', '=', DEFAULT_ACCESS_GROUP_ID).execute();
    await db.deleteFrom('access_group_cas').where('access_group_id', '=', DEFAULT_ACCESS_GROUP_ID).execute();
    await Promise.all([ensureAccessGroupCas(a.app.context), ensureAccessGroupCas(b.app.context)]);
    const cas = await db.selectFrom('access_group_cas').select('id').where('access_group_id', '=', DEFAULT_ACCESS_GROUP_ID).execute();
    expect(cas).toHaveLength(1);
    const group = await db.selectFrom('access_groups').select('primary_ca_id').where('id', '=', DEFAULT_ACCESS_GROUP_ID).executeTakeFirstOrThrow();
    expect(group.primary_ca_id).toBe(cas[0]!.id);
  });
});
