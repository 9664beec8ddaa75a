import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SERVICE_OPTIONS } from '../../src/lib/service-options.js';
import { ManualClock } from '../../src/lib/time.js';
import { currentPolicyVersion } from '../../src/services/host-store/policy-version-repository.js';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';

const HOSTS = '/host-store/api/v1/hosts';

const NO_WEB = { file_transfer: false, audio: false, clipboard: false };
const DB_LIMITS = { max_bytes_download: 1_000_000, max_bytes_upload: 0 };

/** Every documented field set, plus fields the Go SDK sends that privgate does not interpret. */
function fullHost(): Record<string, unknown> {
  return {
    common_name: 'web-01.example.com',
    name: 'web-01',
    external_id: 'ext-0001',
    instance_id: 'i-0abc123',
    source_id: 'source-1',
    access_group_id: '00000000-0000-4000-8000-0000000000a1',
    organization: 'Example Oy',
    organizational_unit: 'IT',
    zone: 'eu-north-1a',
    host_type: 'linux',
    host_classification: 'production',
    comment: 'Primary web host — handle with care',
    addresses: ['10.0.0.5', 'web-01.example.com', '2001:db8::1'],
    disabled: 'FALSE',
    services: [
      { service: 'SSH', address: 'web-01.example.com', port: 22, source: 'UI', use_for_password_rotation: true },
      { service: 'WEB', address: 'intranet.example.com', port: 443, source: 'UI', use_for_password_rotation: false, allowed_domains: ['intranet.example.com', '*.cdn.example.com'], browser: 'chromium' },
      { service: 'DB', address: '10.0.0.5', port: 5432, source: 'UI', db: { protocol: 'postgres' } },
    ],
    principals: [
      { principal: 'root', rotate: false, use_for_password_rotation: true, source: 'UI' },
      { principal: 'alice', rotate: true, source: 'UI', service_options: { web: NO_WEB, db: DB_LIMITS }, roles: [{ id: 'r1', name: 'role one' }] },
      { principal: 'bob', source: 'SCAN', service_options: { ssh: { shell: true, file_transfer: false, exec: true, tunnels: false, x11: false, other: true } } },
    ],
    tags: ['prod', 'web', 'eu'],
    toch: null,
    stand_alone_host: false,
    ssh_host_public_keys: [{ key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample', fingerprint: 'SHA256:abc' }],
    session_recording_options: { disable_clipboard_recording: true, disable_file_transfer_recording: false },
  };
}

/** What a host reads back with beyond what was sent: the SDK's fields at their zero values, and the server-owned ones. */
const READ_DEFAULTS = {
  deployable: false,
  tofu: false,
  toch: false,
  stand_alone_host: false,
  password_rotation_enabled: false,
  host_certificate_raw: '',
  ssh_host_public_keys: [],
  scope: [],
  status: [],
  deleted: false,
  to_be_deleted: false,
};

describe.each(testBackends())('host-store hosts on %s', (backend) => {
  let testApp: TestApp;
  let clock: ManualClock;
  let manageToken: string;
  let viewToken: string;
  let manageClientId: string;

  const db = () => testApp.app.context.database.db;
  const count = async (table: 'hosts' | 'audit_events' | 'host_services' | 'host_tags' | 'host_principals' | 'host_addresses' | 'host_search_grams') =>
    Number((await db().selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const hostCounter = async () => Number((await db().selectFrom('counters').select('value').where('name', '=', 'host_count').executeTakeFirstOrThrow()).value);
  const inject = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, token = manageToken) =>
    testApp.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
  const create = async (host: Record<string, unknown>) => {
    const response = await inject('POST', HOSTS, host);
    expect(response.statusCode, response.body).toBe(201);
    return (response.json() as { id: string }).id;
  };
  const lastAudit = async (type: string) => {
    const row = await db().selectFrom('audit_events').selectAll().where('type', '=', type).orderBy('seq', 'desc').executeTakeFirst();
    return row && { ...row, details: JSON.parse(row.details) as Record<string, unknown> };
  };

  beforeAll(async () => {
    clock = new ManualClock(new Date('2030-01-01T00:00:00.000Z'));
    testApp = await createTestApp(backend, { clock });
    const manage = await tokenWith(testApp, ['hosts-manage']);
    manageToken = manage.token;
    manageClientId = manage.credentials.id;
    viewToken = (await tokenWith(testApp, ['hosts-view'])).token;
  });
  afterAll(async () => testApp?.close());

  describe('create, read, update, delete', () => {
    it('a created host reads back with every field exactly as sent, plus the server fields', async () => {
      const policyBefore = await currentPolicyVersion(db());
      const countBefore = await hostCounter();
      const response = await inject('POST', HOSTS, fullHost());
      expect(response.statusCode).toBe(201);
      const body = response.json();
      expect(Object.keys(body)).toEqual(['id']);
      expect(body.id).toMatch(/^[0-9a-f-]{36}$/);

      const read = await inject('GET', `${HOSTS}/${body.id}`, undefined, viewToken);
      expect(read.statusCode).toBe(200);
      expect(read.json()).toEqual({
        ...READ_DEFAULTS,
        ...fullHost(),
        id: body.id,
        created: '2030-01-01T00:00:00.000Z',
        updated: '2030-01-01T00:00:00.000Z',
        updated_by: manageClientId,
        author: manageClientId,
      });
      expect(await currentPolicyVersion(db())).toBe(policyBefore + 1);
      expect(await hostCounter()).toBe(countBefore + 1);
      const audit = await lastAudit('host_created');
      expect(audit).toMatchObject({ object_type: 'host', object_id: body.id, principal_id: manageClientId, outcome: 'success' });
      expect(audit?.details.after).toEqual(fullHost());
    });

    it('server fields a client echoes back are ignored', async () => {
      const id = await create({ ...fullHost(), id: 'mine', created: '1999-01-01T00:00:00Z', updated: '', updated_by: 'someone', author: 'someone' });
      const host = (await inject('GET', `${HOSTS}/${id}`)).json();
      expect(host).toMatchObject({ id, created: clock.now().toISOString(), updated_by: manageClientId, author: manageClientId });
    });

    it('null arrays are accepted and read as empty; a missing disabled reads "FALSE"', async () => {
      const id = await create({
        name: 'nulls',
        addresses: null,
        principals: null,
        tags: null,
        services: [{ service: 'WEB', address: 'nulls.example.com', port: 8443, allowed_domains: null }],
      });
      const host = (await inject('GET', `${HOSTS}/${id}`)).json();
      expect(host).toMatchObject({ name: 'nulls', addresses: [], principals: [], tags: [], disabled: 'FALSE' });
      expect(host.services).toEqual([{ service: 'WEB', address: 'nulls.example.com', port: 8443, allowed_domains: [] }]);

      const bare = await create({ name: 'bare', services: null });
      expect((await inject('GET', `${HOSTS}/${bare}`)).json()).toMatchObject({ addresses: [], services: [], principals: [], tags: [], disabled: 'FALSE' });
    });

    it('"disabled" is a string: TRUE and BULK round-trip, "" (Go zero value) reads FALSE', async () => {
      for (const [sent, read] of [['TRUE', 'TRUE'], ['BULK', 'BULK'], ['', 'FALSE']]) {
        const id = await create({ name: `disabled-${sent}`, disabled: sent });
        expect((await inject('GET', `${HOSTS}/${id}`)).json().disabled).toBe(read);
      }
    });

    it('a PUT replaces the document, keeps created/author, and is audited with before → after', async () => {
      const id = await create(fullHost());
      clock.advance(60);
      const policyBefore = await currentPolicyVersion(db());
      const changed = {
        ...fullHost(),
        name: 'web-01-renamed',
        addresses: ['10.0.0.6'],
        services: [{ service: 'RDP', address: '10.0.0.6', port: 3389 }],
        principals: [{ principal: 'administrator', service_options: { rdp: { file_transfer: false, audio: true, clipboard: false } } }],
        tags: [],
        disabled: 'TRUE',
        comment: '',
      };
      const response = await inject('PUT', `${HOSTS}/${id}`, changed);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({});
      const host = (await inject('GET', `${HOSTS}/${id}`)).json();
      expect(host).toEqual({ ...READ_DEFAULTS, ...changed, id, created: '2030-01-01T00:00:00.000Z', updated: '2030-01-01T00:01:00.000Z', updated_by: manageClientId, author: manageClientId });
      expect(await currentPolicyVersion(db())).toBe(policyBefore + 1);
      const audit = await lastAudit('host_updated');
      expect(audit?.object_id).toBe(id);
      expect(audit?.details.before).toEqual(fullHost());
      expect(audit?.details.after).toEqual(changed);
      // The index tables follow the document.
      expect(await db().selectFrom('host_services').select(['service', 'port']).where('host_id', '=', id).execute()).toEqual([{ service: 'RDP', port: 3389 }]);
      expect(await db().selectFrom('host_tags').select('tag').where('host_id', '=', id).execute()).toEqual([]);
      expect(await db().selectFrom('host_principals').select('principal').where('host_id', '=', id).execute()).toEqual([{ principal: 'administrator' }]);
    });

    it('a DELETE removes the host and its index rows, and is audited', async () => {
      const id = await create(fullHost());
      const countBefore = await hostCounter();
      const policyBefore = await currentPolicyVersion(db());
      const response = await inject('DELETE', `${HOSTS}/${id}`);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({});
      const read = await inject('GET', `${HOSTS}/${id}`);
      expect(read.statusCode).toBe(404);
      expect(envelope(read).error_code).toBe('OBJECT_NOT_FOUND');
      for (const table of ['host_services', 'host_tags', 'host_principals', 'host_addresses', 'host_search_grams'] as const) {
        expect(await db().selectFrom(table).select('host_id').where('host_id', '=', id).execute(), table).toEqual([]);
      }
      expect(await hostCounter()).toBe(countBefore - 1);
      expect(await currentPolicyVersion(db())).toBe(policyBefore + 1);
      expect((await lastAudit('host_deleted'))?.details.before).toEqual(fullHost());
    });

    it('an unknown host answers 404 OBJECT_NOT_FOUND on GET, PUT, DELETE and changes nothing', async () => {
      const unknown = crypto.randomUUID();
      const auditBefore = await count('audit_events');
      for (const [method, payload] of [['GET', undefined], ['PUT', fullHost()], ['DELETE', undefined]] as const) {
        const response = await inject(method, `${HOSTS}/${unknown}`, payload);
        expect(response.statusCode, method).toBe(404);
        expect(envelope(response).error_code).toContain('NOT_FOUND');
      }
      expect(await count('audit_events')).toBe(auditBefore);
    });

    it('a host id that is absurdly long is a 400, not a query', async () => {
      const response = await inject('GET', `${HOSTS}/${'x'.repeat(300)}`);
      expect(response.statusCode).toBe(400);
      envelope(response);
    });
  });

  describe('permissions', () => {
    it('hosts-view reads but cannot write (403); no token is 401; users-view is 403', async () => {
      const id = await create(fullHost());
      expect((await inject('GET', `${HOSTS}/${id}`, undefined, viewToken)).statusCode).toBe(200);
      expect((await inject('GET', HOSTS, undefined, viewToken)).statusCode).toBe(200);
      expect((await inject('POST', `${HOSTS}/search`, {}, viewToken)).statusCode).toBe(200);
      const hostsBefore = await count('hosts');
      for (const [method, url, payload] of [
        ['POST', HOSTS, fullHost()],
        ['PUT', `${HOSTS}/${id}`, fullHost()],
        ['DELETE', `${HOSTS}/${id}`, undefined],
      ] as const) {
        const response = await inject(method, url, payload, viewToken);
        expect(response.statusCode, `${method} ${url}`).toBe(403);
        expect(envelope(response).error_code).toBe('PERMISSION_DENIED');
      }
      expect(await count('hosts')).toBe(hostsBefore);
      expect((await testApp.app.inject({ method: 'GET', url: `${HOSTS}/${id}` })).statusCode).toBe(401);
      const { token } = await tokenWith(testApp, ['users-view']);
      expect((await inject('GET', `${HOSTS}/${id}`, undefined, token)).statusCode).toBe(403);
      expect((await inject('GET', HOSTS, undefined, token)).statusCode).toBe(403);
    });
  });

  describe('validation: an invalid body answers a 400 envelope and stores nothing', () => {
    const withService = (service: Record<string, unknown>) => ({ name: 'invalid', services: [service] });
    const withPrincipal = (principal: Record<string, unknown>) => ({ name: 'invalid', principals: [principal] });
    const cases: Array<[string, Record<string, unknown>, string, string]> = [
      ['an unknown service type', withService({ service: 'FTP', address: 'a.example.com', port: 21 }), 'INVALID_REQUEST_DATA', 'services[0].service'],
      ['port 0', withService({ service: 'SSH', address: 'a.example.com', port: 0 }), 'VALUE_OUT_OF_BOUNDS', 'services[0].port'],
      ['port 65536', withService({ service: 'SSH', address: 'a.example.com', port: 65536 }), 'VALUE_OUT_OF_BOUNDS', 'services[0].port'],
      ['a string port', withService({ service: 'SSH', address: 'a.example.com', port: '22' }), 'VALUE_INCORRECT_TYPE', 'services[0].port'],
      ['a service without an address', withService({ service: 'SSH', port: 22 }), 'REQUIRED_VALUE_MISSING', 'services[0].address'],
      ['a malformed service address', withService({ service: 'SSH', address: 'not an address', port: 22 }), 'VALUE_INCORRECT_FORMAT', 'services[0].address'],
      ['a malformed host address', { name: 'invalid', addresses: ['10.0.0.1', 'bad/address'] }, 'VALUE_INCORRECT_FORMAT', 'addresses[1]'],
      ['an impossible IPv4 address', { name: 'invalid', addresses: ['300.1.1.1'] }, 'VALUE_INCORRECT_FORMAT', 'addresses[0]'],
      ['allowed_domains on an SSH service', withService({ service: 'SSH', address: 'a.example.com', port: 22, allowed_domains: ['a.example.com'] }), 'INVALID_REQUEST_DATA', 'services[0].allowed_domains'],
      ['a malformed allowed domain', withService({ service: 'WEB', address: 'a.example.com', port: 443, allowed_domains: ['ok.example.com', 'foo*.example.com'] }), 'VALUE_INCORRECT_FORMAT', 'services[0].allowed_domains[1]'],
      ['a bare wildcard domain', withService({ service: 'WEB', address: 'a.example.com', port: 443, allowed_domains: ['*.'] }), 'VALUE_INCORRECT_FORMAT', 'services[0].allowed_domains[0]'],
      ['a duplicate principal', { name: 'invalid', principals: [{ principal: 'root' }, { principal: 'admin' }, { principal: 'root' }] }, 'VALUE_DUPLICATE', 'principals[2].principal'],
      ['a principal without a name', withPrincipal({ source: 'UI' }), 'REQUIRED_VALUE_MISSING', 'principals[0].principal'],
      ['an incomplete service_options block', withPrincipal({ principal: 'p', service_options: { web: { file_transfer: false, audio: false } } }), 'REQUIRED_VALUE_MISSING', 'principals[0].service_options.web.clipboard'],
      ['an unknown key in a service_options block', withPrincipal({ principal: 'p', service_options: { vnc: { file_transfer: true, clipboard: true, audio: true } } }), 'INVALID_REQUEST_DATA', 'principals[0].service_options.vnc.audio'],
      ['an unknown service_options block', withPrincipal({ principal: 'p', service_options: { ftp: { file_transfer: true } } }), 'INVALID_REQUEST_DATA', 'principals[0].service_options.ftp'],
      ['a negative byte limit', withPrincipal({ principal: 'p', service_options: { db: { max_bytes_download: -1, max_bytes_upload: 0 } } }), 'VALUE_OUT_OF_BOUNDS', 'principals[0].service_options.db.max_bytes_download'],
      ['a wrong-typed option', withPrincipal({ principal: 'p', service_options: { ssh: { ...DEFAULT_SERVICE_OPTIONS.ssh, shell: 'no' } } }), 'VALUE_INCORRECT_TYPE', 'principals[0].service_options.ssh.shell'],
      ['an overlong passphrase', withPrincipal({ principal: 'p', passphrase: 'x'.repeat(1025) }), 'VALUE_OUT_OF_BOUNDS', 'principals[0].passphrase'],
      ['a boolean disabled', { name: 'invalid', disabled: true }, 'VALUE_INCORRECT_TYPE', 'disabled'],
      ['an unknown disabled value', { name: 'invalid', disabled: 'MAYBE' }, 'INVALID_REQUEST_DATA', 'disabled'],
      ['a string where tags are a list', { name: 'invalid', tags: 'prod' }, 'VALUE_INCORRECT_TYPE', 'tags'],
      ['a numeric comment', { name: 'invalid', comment: 42 }, 'VALUE_INCORRECT_TYPE', 'comment'],
      ['an overlong name', { name: 'n'.repeat(254) }, 'VALUE_OUT_OF_BOUNDS', 'name'],
      ['a control character in a name', { name: 'bad\u0000name' }, 'VALUE_INCORRECT_FORMAT', 'name'],
    ];

    it.each(cases)('%s on POST', async (_name, body, code, property) => {
      const hostsBefore = await count('hosts');
      const auditBefore = await count('audit_events');
      const response = await inject('POST', HOSTS, body);
      expect(response.statusCode, response.body).toBe(400);
      expect(envelope(response)).toMatchObject({ error_code: code, property });
      expect(await count('hosts')).toBe(hostsBefore);
      expect(await count('audit_events')).toBe(auditBefore);
    });

    it('an invalid PUT changes nothing', async () => {
      const id = await create(fullHost());
      const before = (await inject('GET', `${HOSTS}/${id}`)).json();
      const auditBefore = await count('audit_events');
      const policyBefore = await currentPolicyVersion(db());
      for (const [, body, code, property] of cases) {
        const response = await inject('PUT', `${HOSTS}/${id}`, body);
        expect(response.statusCode).toBe(400);
        expect(envelope(response)).toMatchObject({ error_code: code, property });
      }
      expect((await inject('GET', `${HOSTS}/${id}`)).json()).toEqual(before);
      expect(await count('audit_events')).toBe(auditBefore);
      expect(await currentPolicyVersion(db())).toBe(policyBefore);
    });

    it('a body that is not an object is rejected', async () => {
      const response = await testApp.app.inject({ method: 'POST', url: HOSTS, headers: { ...bearer(manageToken), 'content-type': 'application/json' }, payload: '[1,2]' });
      expect(response.statusCode).toBe(400);
      envelope(response);
    });
  });

  describe('effective service options', () => {
    let hostId: string;
    const effective = (principal: string, token = viewToken, id = hostId) =>
      inject('GET', `${HOSTS}/${encodeURIComponent(id)}/effective_service_options?principal=${encodeURIComponent(principal)}`, undefined, token);

    beforeAll(async () => {
      hostId = await create(fullHost());
    });

    it('a principal override wins per block; other blocks come from the defaults', async () => {
      const response = await effective('alice');
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({
        host_id: hostId,
        principal: 'alice',
        options: { ...DEFAULT_SERVICE_OPTIONS, web: NO_WEB, db: DB_LIMITS },
        sources: { ssh: 'default', rdp: 'default', web: 'principal', vnc: 'default', db: 'principal' },
      });
    });

    it('a principal without overrides gets the defaults in force, which follow the settings', async () => {
      expect((await effective('root')).json()).toMatchObject({ options: DEFAULT_SERVICE_OPTIONS, sources: { ssh: 'default', web: 'default' } });
      const settingsToken = (await tokenWith(testApp, ['settings-manage'])).token;
      const changed = structuredClone(DEFAULT_SERVICE_OPTIONS);
      changed.web.clipboard = false;
      changed.ssh.x11 = false;
      const put = await testApp.app.inject({ method: 'PUT', url: '/settings/api/v1/settings/host-store/default_service_options', headers: bearer(settingsToken), payload: changed });
      expect(put.statusCode).toBe(200);
      try {
        expect((await effective('root')).json().options).toEqual(changed);
        // bob overrides ssh only: ssh stays his, web follows the new default.
        const bob = (await effective('bob')).json();
        expect(bob.options.web).toEqual(changed.web);
        expect(bob.options.ssh).toEqual({ shell: true, file_transfer: false, exec: true, tunnels: false, x11: false, other: true });
        expect(bob.sources).toEqual({ ssh: 'principal', rdp: 'default', web: 'default', vnc: 'default', db: 'default' });
      } finally {
        await testApp.app.inject({ method: 'PUT', url: '/settings/api/v1/settings/host-store/default_service_options', headers: bearer(settingsToken), payload: DEFAULT_SERVICE_OPTIONS });
      }
    });

    it('an unknown principal on the host answers 404 naming principal', async () => {
      const response = await effective('mallory');
      expect(response.statusCode).toBe(404);
      expect(envelope(response)).toMatchObject({ error_code: 'OBJECT_NOT_FOUND', property: 'principal' });
    });

    it('an unknown host answers 404', async () => {
      const response = await effective('alice', viewToken, crypto.randomUUID());
      expect(response.statusCode).toBe(404);
      expect(envelope(response).error_code).toBe('OBJECT_NOT_FOUND');
    });

    it('a missing principal parameter answers 400 REQUIRED_VALUE_MISSING', async () => {
      const response = await inject('GET', `${HOSTS}/${hostId}/effective_service_options`, undefined, viewToken);
      expect(response.statusCode).toBe(400);
      expect(envelope(response)).toMatchObject({ error_code: 'REQUIRED_VALUE_MISSING', property: 'principal' });
    });

    it('hosts-manage and a trusted client may ask; users-view may not', async () => {
      expect((await effective('alice', manageToken)).statusCode).toBe(200);
      const { token: trusted } = await testApp.app.tokens.signAccessToken({ type: 'trusted-client', id: crypto.randomUUID(), name: 'proxy', roles: [], permissions: [] }, 'x');
      expect((await effective('alice', trusted)).statusCode).toBe(200);
      const { token } = await tokenWith(testApp, ['users-view']);
      expect((await effective('alice', token)).statusCode).toBe(403);
    });

    it('is documented in the OpenAPI document as a privgate extension', async () => {
      const document = (await testApp.app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as {
        paths: Record<string, Record<string, { summary?: string; description?: string; 'x-privgate-permissions': unknown }>>;
      };
      const route = document.paths['/host-store/api/v1/hosts/{id}/effective_service_options']?.get;
      expect(route?.summary).toMatch(/privgate extension/);
      expect(route?.description).toMatch(/principal/);
      expect(route?.['x-privgate-permissions']).toEqual(['hosts-view', 'hosts-manage', 'service']);
    });
  });
});
