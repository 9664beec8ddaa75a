import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/time.js';
import { createCertificateAuthority, issueServerCertificate } from '../../src/lib/pki/ca.js';
import { DEFAULT_ACCESS_GROUP_ID } from '../../src/services/authorizer/access-group-repository.js';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';

const HOSTS = '/host-store/api/v1/hosts';

interface Listed<T> {
  count: number;
  items: T[];
}
interface HostOut {
  id: string;
  common_name: string;
  [key: string]: unknown;
}

/** Three hosts that differ in every field the SDK's HostSearch filters on. */
const ALPHA = {
  common_name: 'alpha.example.com',
  external_id: 'ext-alpha',
  instance_id: 'i-alpha',
  source_id: 'src-alpha',
  distinguished_name: 'CN=alpha,O=Org1',
  organization: 'Org1',
  organizational_unit: 'OU1',
  zone: 'zone-1',
  host_type: 'linux',
  host_classification: 'class-1',
  scope: ['scope-1'],
  cloud_provider: 'AWS',
  cloud_provider_region: 'eu-west-1',
  deployable: true,
  addresses: ['10.9.0.1', 'Alpha.Example.com'],
  services: [{ service: 'SSH', address: '10.9.0.1', port: 22 }],
  principals: [{ principal: 'root', roles: [{ id: 'role-alpha', name: 'Alpha' }] }],
  tags: ['red', 'blue'],
};
const BETA = {
  common_name: 'beta.example.com',
  external_id: 'ext-beta',
  instance_id: 'i-beta',
  source_id: 'src-beta',
  distinguished_name: 'CN=beta,O=Org2',
  organization: 'Org2',
  organizational_unit: 'OU2',
  zone: 'zone-2',
  host_type: 'windows',
  host_classification: 'class-2',
  scope: ['scope-2', 'scope-shared'],
  cloud_provider: 'AZURE',
  cloud_provider_region: 'westeurope',
  disabled: 'TRUE',
  addresses: ['10.9.0.2'],
  services: [{ service: 'RDP', address: '10.9.0.2', port: 3389 }],
  principals: [{ principal: 'administrator', roles: [{ id: 'role-beta', name: 'Beta' }] }],
  tags: ['green'],
};
const GAMMA = { common_name: 'gamma.example.com', addresses: ['10.9.0.3'], services: [{ service: 'SSH', address: 'gamma.example.com', port: 2222 }], scope: ['scope-shared'] };

describe.each(testBackends())('hosts as the PrivX SDK uses them on %s', (backend) => {
  let testApp: TestApp;
  let manage: string;
  let view: string;
  let none: string;
  const ids: Record<string, string> = {};

  const db = () => testApp.app.context.database.db;
  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, token = manage) =>
    testApp.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
  const read = async (id: string): Promise<HostOut> => {
    const response = await call('GET', `${HOSTS}/${id}`);
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as HostOut;
  };
  const search = async (body: unknown): Promise<string[]> => {
    const response = await call('POST', `${HOSTS}/search`, body);
    expect(response.statusCode, response.body).toBe(200);
    const listed = response.json() as Listed<HostOut>;
    expect(listed.items.length).toBe(listed.count);
    return listed.items.map((host) => host.common_name).sort();
  };
  const hostRows = async () => Number((await db().selectFrom('hosts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const auditRows = async () => Number((await db().selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  beforeAll(async () => {
    testApp = await createTestApp(backend, { clock: new ManualClock(new Date('2031-06-01T00:00:00.000Z')) });
    manage = (await tokenWith(testApp, ['hosts-manage'])).token;
    view = (await tokenWith(testApp, ['hosts-view'])).token;
    none = (await tokenWith(testApp, ['users-view'])).token;
    for (const [name, body] of Object.entries({ alpha: ALPHA, beta: BETA, gamma: GAMMA })) {
      const response = await call('POST', HOSTS, body);
      expect(response.statusCode, response.body).toBe(201);
      ids[name] = (response.json() as { id: string }).id;
    }
  });
  afterAll(async () => testApp?.close());

  describe('search: each HostSearch filter', () => {
    const cases: Array<[string, Record<string, unknown>, string[]]> = [
      ['id', { id: 'ALPHA' }, ['alpha.example.com']],
      ['common_name (any of)', { common_name: ['alpha.example.com', 'gamma.example.com'] }, ['alpha.example.com', 'gamma.example.com']],
      ['common_name is exact', { common_name: ['alpha'] }, []],
      ['address (case-insensitive)', { address: ['alpha.example.COM'] }, ['alpha.example.com']],
      ['address (any of)', { address: ['10.9.0.2', '10.9.0.3'] }, ['beta.example.com', 'gamma.example.com']],
      ['external_id', { external_id: 'ext-beta' }, ['beta.example.com']],
      ['instance_id', { instance_id: 'i-alpha' }, ['alpha.example.com']],
      ['source_id', { source_id: 'src-beta' }, ['beta.example.com']],
      ['distinguished_name', { distinguished_name: ['CN=beta,O=Org2'] }, ['beta.example.com']],
      ['organization', { organization: ['Org1'] }, ['alpha.example.com']],
      ['organizational_unit', { organizational_unit: ['OU2'] }, ['beta.example.com']],
      ['zone', { zone: ['zone-1', 'zone-2'] }, ['alpha.example.com', 'beta.example.com']],
      ['host_type', { host_type: ['windows'] }, ['beta.example.com']],
      ['host_classification', { host_classification: ['class-1'] }, ['alpha.example.com']],
      ['role (a principal role id)', { role: ['role-beta'] }, ['beta.example.com']],
      ['scope', { scope: ['scope-shared'] }, ['beta.example.com', 'gamma.example.com']],
      ['access_group_ids', { access_group_ids: [DEFAULT_ACCESS_GROUP_ID] }, ['alpha.example.com', 'beta.example.com', 'gamma.example.com']],
      ['access_group_ids (another group)', { access_group_ids: ['no-such-group'] }, []],
      ['cloud_providers', { cloud_providers: ['AWS'] }, ['alpha.example.com']],
      ['cloud_provider_regions', { cloud_provider_regions: ['westeurope'] }, ['beta.example.com']],
      ['service', { service: ['RDP'] }, ['beta.example.com']],
      ['port', { port: [22, 2222] }, ['alpha.example.com', 'gamma.example.com']],
      ['tags (every one)', { tags: ['red', 'blue'] }, ['alpha.example.com']],
      ['principal (privgate extension)', { principal: ['administrator'] }, ['beta.example.com']],
      ['deployable', { deployable: true }, ['alpha.example.com']],
      ['deployable false is no filter', { deployable: false }, ['alpha.example.com', 'beta.example.com', 'gamma.example.com']],
      ['disabled', { disabled: 'TRUE' }, ['beta.example.com']],
      ['statuses (privgate reports none)', { statuses: ['SOME_STATUS'] }, []],
      ['ignore_disabled_sources changes nothing', { ignore_disabled_sources: true }, ['alpha.example.com', 'beta.example.com', 'gamma.example.com']],
      ['empty values are no filter', { common_name: [], external_id: '', zone: null, disabled: '' }, ['alpha.example.com', 'beta.example.com', 'gamma.example.com']],
      ['filters combine with AND', { scope: ['scope-shared'], port: [3389], keywords: 'beta' }, ['beta.example.com']],
      ['filters combine with AND (none)', { zone: ['zone-1'], cloud_providers: ['AZURE'] }, []],
    ];
    for (const [name, body, expected] of cases) {
      it(name, async () => {
        const resolved = body.id === 'ALPHA' ? { ...body, id: ids.alpha } : body;
        expect(await search(resolved)).toEqual(expected);
      });
    }

    it('follows an update: the changed fields are found by their new values only', async () => {
      const response = await call('PUT', `${HOSTS}/${ids.gamma}`, { ...GAMMA, zone: 'zone-9', principals: [{ principal: 'ops', roles: [{ id: 'role-gamma', name: 'G' }] }] });
      expect(response.statusCode, response.body).toBe(200);
      expect(await search({ zone: ['zone-9'] })).toEqual(['gamma.example.com']);
      expect(await search({ role: ['role-gamma'] })).toEqual(['gamma.example.com']);
      await call('PUT', `${HOSTS}/${ids.gamma}`, GAMMA);
      expect(await search({ zone: ['zone-9'] })).toEqual([]);
    });

    it('rejects wrong types with 400 INVALID_REQUEST_DATA / VALUE_INCORRECT_TYPE', async () => {
      for (const [body, property] of [
        [{ zone: 'zone-1' }, 'zone'],
        [{ port: ['22'] }, 'port[0]'],
        [{ port: [70000] }, 'port[0]'],
        [{ external_id: ['ext-alpha'] }, 'external_id'],
        [{ deployable: 'yes' }, 'deployable'],
        [{ disabled: 'MAYBE' }, 'disabled'],
        [{ filter: 'accessible' }, 'filter'],
        [{ no_such_filter: ['x'] }, 'no_such_filter'],
      ] as const) {
        const response = await call('POST', `${HOSTS}/search`, body);
        expect(response.statusCode, JSON.stringify(body)).toBe(400);
        expect(envelope(response).property, JSON.stringify(body)).toBe(property);
      }
    });
  });

  describe('response fields the SDK decodes', () => {
    it('a host carries status, scope, deleted, to_be_deleted, disabled, deployable, host_certificate_raw and password rotation fields', async () => {
      const gamma = await read(ids.gamma as string);
      expect(gamma).toMatchObject({
        status: [],
        scope: ['scope-shared'],
        deleted: false,
        to_be_deleted: false,
        disabled: 'FALSE',
        deployable: false,
        host_certificate_raw: '',
        password_rotation_enabled: false,
        ssh_host_public_keys: [],
      });
      expect(gamma).not.toHaveProperty('host_certificate');
      expect((await read(ids.beta as string)).disabled).toBe('TRUE');
    });

    it('server-owned fields a client sends are ignored', async () => {
      const response = await call('POST', HOSTS, { common_name: 'owned.example.com', status: [{ k: 'X', v: 'Y' }], deleted: true, to_be_deleted: true });
      expect(response.statusCode, response.body).toBe(201);
      const id = (response.json() as { id: string }).id;
      expect(await read(id)).toMatchObject({ status: [], deleted: false, to_be_deleted: false });
      expect((await call('DELETE', `${HOSTS}/${id}`)).statusCode).toBe(200);
    });

    it('host_certificate is the parsed host_certificate_raw', async () => {
      const ca = await createCertificateAuthority({ commonName: 'hosts test CA', validityDays: 30 });
      const issued = await issueServerCertificate({ ca, commonName: 'cert.example.com', dnsNames: ['cert.example.com'], ipAddresses: ['10.9.0.9'], validityDays: 30 });
      const response = await call('POST', HOSTS, { common_name: 'cert.example.com', host_certificate_raw: issued.certificatePem });
      expect(response.statusCode, response.body).toBe(201);
      const id = (response.json() as { id: string }).id;
      const host = await read(id);
      expect(host.host_certificate_raw).toBe(issued.certificatePem);
      expect(host.host_certificate).toMatchObject({ dns_names: ['cert.example.com'], ip_addresses: ['10.9.0.9'] });
      expect((host.host_certificate as { fingerprint_sha256: string }).fingerprint_sha256).toMatch(/^[0-9a-f]{64}$/);
      expect((host.host_certificate as { subject: string }).subject).toContain('cert.example.com');
      expect((await call('DELETE', `${HOSTS}/${id}`)).statusCode).toBe(200);
    });
  });

  describe('GET /hosts/tags', () => {
    it('lists every tag once, sorted, with the count (not a host lookup)', async () => {
      const response = await call('GET', `${HOSTS}/tags`);
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toEqual({ count: 3, items: ['blue', 'green', 'red'] });
    });

    it('filters by query, sorts descending and pages', async () => {
      expect((await call('GET', `${HOSTS}/tags?query=RE`)).json()).toEqual({ count: 2, items: ['green', 'red'] });
      expect((await call('GET', `${HOSTS}/tags?sortdir=desc&limit=2`)).json()).toEqual({ count: 3, items: ['red', 'green'] });
      expect((await call('GET', `${HOSTS}/tags?offset=2&limit=5`)).json()).toEqual({ count: 3, items: ['red'] });
      expect((await call('GET', `${HOSTS}/tags?query=nothing`)).json()).toEqual({ count: 0, items: [] });
    });

    it('is readable with hosts-view', async () => {
      expect((await call('GET', `${HOSTS}/tags`, undefined, view)).statusCode).toBe(200);
    });
  });

  describe('PUT /hosts/{id}/deployable and /disabled', () => {
    it('round-trips deployable, audited', async () => {
      const before = await auditRows();
      expect((await call('PUT', `${HOSTS}/${ids.gamma}/deployable`, { deployable: true })).statusCode).toBe(200);
      expect((await read(ids.gamma as string)).deployable).toBe(true);
      expect(await search({ deployable: true })).toEqual(['alpha.example.com', 'gamma.example.com']);
      expect((await call('PUT', `${HOSTS}/${ids.gamma}/deployable`, { deployable: false })).statusCode).toBe(200);
      expect((await read(ids.gamma as string)).deployable).toBe(false);
      expect(await search({ deployable: true })).toEqual(['alpha.example.com']);
      expect(await auditRows()).toBe(before + 2);
      const event = await db().selectFrom('audit_events').selectAll().where('object_id', '=', ids.gamma as string).orderBy('seq', 'desc').executeTakeFirstOrThrow();
      expect(event.type).toBe('host_updated');
      expect(JSON.parse(event.details)).toMatchObject({ change: 'deployable', after: { deployable: false } });
    });

    it('round-trips disabled as the "TRUE"/"FALSE" string', async () => {
      expect((await call('PUT', `${HOSTS}/${ids.gamma}/disabled`, { disabled: true })).statusCode).toBe(200);
      expect((await read(ids.gamma as string)).disabled).toBe('TRUE');
      expect(await search({ disabled: 'TRUE' })).toEqual(['beta.example.com', 'gamma.example.com']);
      expect((await call('PUT', `${HOSTS}/${ids.gamma}/disabled`, { disabled: false })).statusCode).toBe(200);
      expect((await read(ids.gamma as string)).disabled).toBe('FALSE');
      expect(await search({ disabled: 'TRUE' })).toEqual(['beta.example.com']);
    });

    it('bad input is 400 and changes nothing; an unknown host is 404', async () => {
      const before = await read(ids.alpha as string);
      const audit = await auditRows();
      for (const [path, body] of [
        ['deployable', { deployable: 'yes' }],
        ['deployable', {}],
        ['disabled', { disabled: 'TRUE' }],
        ['disabled', { disabled: true, extra: 1 }],
      ] as const) {
        const response = await call('PUT', `${HOSTS}/${ids.alpha}/${path}`, body);
        expect(response.statusCode, JSON.stringify(body)).toBe(400);
        envelope(response);
      }
      expect(await read(ids.alpha as string)).toEqual(before);
      expect(await auditRows()).toBe(audit);
      const missing = await call('PUT', `${HOSTS}/00000000-0000-4000-8000-000000000000/disabled`, { disabled: true });
      expect(missing.statusCode).toBe(404);
      expect(envelope(missing).error_code).toBe('OBJECT_NOT_FOUND');
    });
  });

  describe('POST /hosts/resolve', () => {
    it('finds the host with that service at that address and port', async () => {
      const response = await call('POST', `${HOSTS}/resolve`, { service: 'SSH', address: '10.9.0.1', port: 22 });
      expect(response.statusCode, response.body).toBe(200);
      expect((response.json() as HostOut).id).toBe(ids.alpha);
      expect(((await call('POST', `${HOSTS}/resolve`, { service: 'RDP', address: '10.9.0.2' }, view)).json() as HostOut).id).toBe(ids.beta);
    });

    it('falls back to the host addresses (case-insensitive) of a host offering the service', async () => {
      const response = await call('POST', `${HOSTS}/resolve`, { service: 'SSH', address: 'ALPHA.example.com', port: 22 });
      expect(response.statusCode, response.body).toBe(200);
      expect((response.json() as HostOut).id).toBe(ids.alpha);
    });

    it('404 when nothing matches, 400 on bad input', async () => {
      for (const body of [
        { service: 'SSH', address: '10.9.0.1', port: 2200 },
        { service: 'RDP', address: '10.9.0.1', port: 22 },
      ]) {
        const response = await call('POST', `${HOSTS}/resolve`, body);
        expect(response.statusCode, JSON.stringify(body)).toBe(404);
        expect(envelope(response).error_code).toBe('OBJECT_NOT_FOUND');
      }
      for (const body of [{ service: 'FTP', address: '10.9.0.1' }, { service: 'SSH' }, { service: 'SSH', address: '10.9.0.1', port: 'x' }]) {
        expect((await call('POST', `${HOSTS}/resolve`, body)).statusCode, JSON.stringify(body)).toBe(400);
      }
    });
  });

  describe('POST /hosts/deploy', () => {
    it('creates a deployable host, then updates it by external_id', async () => {
      const created = await call('POST', `${HOSTS}/deploy`, { common_name: 'deployed.example.com', external_id: 'ext-deployed', addresses: ['10.9.1.1'], services: [{ service: 'SSH', address: '10.9.1.1', port: 22 }] });
      expect(created.statusCode, created.body).toBe(200);
      const { id, action } = created.json() as { id: string; action: string };
      expect(action).toBe('created');
      expect(await read(id)).toMatchObject({ common_name: 'deployed.example.com', deployable: true, access_group_id: DEFAULT_ACCESS_GROUP_ID });

      const rows = await hostRows();
      const updated = await call('POST', `${HOSTS}/deploy`, { external_id: 'ext-deployed', addresses: ['10.9.1.2'], tags: ['deployed'] });
      expect(updated.statusCode, updated.body).toBe(200);
      expect(updated.json()).toEqual({ id, action: 'updated' });
      expect(await hostRows()).toBe(rows);
      // The fields sent replace the stored ones; the others stay.
      expect(await read(id)).toMatchObject({ common_name: 'deployed.example.com', addresses: ['10.9.1.2'], tags: ['deployed'], deployable: true });
      expect(await search({ address: ['10.9.1.2'] })).toEqual(['deployed.example.com']);
      expect(await search({ address: ['10.9.1.1'] })).toEqual([]);
      const event = await db().selectFrom('audit_events').selectAll().where('object_id', '=', id).orderBy('seq', 'desc').executeTakeFirstOrThrow();
      expect(event.type).toBe('host_updated');
      expect(JSON.parse(event.details)).toMatchObject({ deploy: true });
      expect((await call('DELETE', `${HOSTS}/${id}`)).statusCode).toBe(200);
    });

    it('finds the host by instance_id and by common_name', async () => {
      const byInstance = await call('POST', `${HOSTS}/deploy`, { instance_id: 'i-alpha', comment: 'deployed' });
      expect(byInstance.json()).toEqual({ id: ids.alpha, action: 'updated' });
      expect((await read(ids.alpha as string)).comment).toBe('deployed');
      const byName = await call('POST', `${HOSTS}/deploy`, { common_name: 'alpha.example.com', comment: 'again' });
      expect(byName.json()).toEqual({ id: ids.alpha, action: 'updated' });
    });

    it('a host that is not deployable is 409 and unchanged', async () => {
      const before = await read(ids.beta as string);
      const audit = await auditRows();
      const response = await call('POST', `${HOSTS}/deploy`, { common_name: 'beta.example.com', comment: 'taken over' });
      expect(response.statusCode, response.body).toBe(409);
      expect(envelope(response).error_code).toBe('CONFLICT');
      expect(await read(ids.beta as string)).toEqual(before);
      expect(await auditRows()).toBe(audit);
    });

    it('bad input is 400 and creates nothing', async () => {
      const rows = await hostRows();
      const audit = await auditRows();
      for (const body of [{ common_name: 'bad.example.com', addresses: ['not an address'] }, { common_name: 'bad.example.com', deployable: 'yes' }, { common_name: 5 }]) {
        const response = await call('POST', `${HOSTS}/deploy`, body);
        expect(response.statusCode, JSON.stringify(body)).toBe(400);
        envelope(response);
      }
      expect(await hostRows()).toBe(rows);
      expect(await auditRows()).toBe(audit);
    });
  });

  describe('session host certificates', () => {
    it('lists none, deletes nothing, and 404s an unknown host or certificate', async () => {
      expect((await call('GET', `${HOSTS}/${ids.alpha}/session_host_certificates`, undefined, view)).json()).toEqual({ count: 0, items: [] });
      expect((await call('DELETE', `${HOSTS}/${ids.alpha}/session_host_certificates`)).statusCode).toBe(200);
      expect((await call('DELETE', `${HOSTS}/${ids.alpha}/session_host_certificates/some-cert`)).statusCode).toBe(404);
      expect((await call('GET', `${HOSTS}/00000000-0000-4000-8000-000000000000/session_host_certificates`)).statusCode).toBe(404);
    });
  });

  describe('permissions', () => {
    it('hosts-view reads but does not change; no host permission gets 403', async () => {
      const audit = await auditRows();
      for (const [method, url, body, token] of [
        ['PUT', `${HOSTS}/${ids.alpha}/deployable`, { deployable: false }, view],
        ['PUT', `${HOSTS}/${ids.alpha}/disabled`, { disabled: true }, view],
        ['POST', `${HOSTS}/deploy`, { common_name: 'alpha.example.com' }, view],
        ['DELETE', `${HOSTS}/${ids.alpha}/session_host_certificates`, undefined, view],
        ['GET', `${HOSTS}/tags`, undefined, none],
        ['POST', `${HOSTS}/search`, { zone: ['zone-1'] }, none],
        ['POST', `${HOSTS}/resolve`, { service: 'SSH', address: '10.9.0.1' }, none],
      ] as const) {
        const response = await call(method, url, body, token);
        expect(response.statusCode, `${method} ${url}`).toBe(403);
        expect(envelope(response).error_code).toBe('PERMISSION_DENIED');
      }
      expect(await auditRows()).toBe(audit);
      expect(await read(ids.alpha as string)).toMatchObject({ deployable: true, disabled: 'FALSE' });
    });
  });
});
