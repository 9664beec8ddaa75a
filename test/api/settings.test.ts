import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SERVICE_OPTIONS } from '../../src/lib/service-options.js';
import { currentPolicyVersion } from '../../src/services/host-store/policy-version-repository.js';
import { getDefaultServiceOptions } from '../../src/services/host-store/repository.js';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, serviceOptionsWith, envelope, tokenWith, type TestApp } from '../helpers/app.js';

const SECTION_URL = '/settings/api/v1/settings/host-store/default_service_options';
const SCOPE_URL = '/settings/api/v1/settings/host-store';
const SEED_URL = '/host-store/api/v1/settings/default_service_options';

const options = serviceOptionsWith;

describe.each(testBackends())('settings service on %s', (backend) => {
  let testApp: TestApp;
  let adminToken: string;
  let manageToken: string;
  let viewToken: string;

  const db = () => testApp.app.context.database.db;
  const storedRows = () => db().selectFrom('settings').selectAll().orderBy('section').execute();
  const auditCount = async () => Number((await db().selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', 'settings_changed').executeTakeFirstOrThrow()).n);
  const put = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    testApp.app.inject({ method: 'PUT', url, headers: { ...bearer(manageToken), ...headers }, payload: payload as Record<string, unknown> });
  const get = (url: string, token = viewToken) => testApp.app.inject({ method: 'GET', url, headers: bearer(token) });

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    adminToken = (await tokenWith(testApp, 'admin')).token;
    manageToken = (await tokenWith(testApp, ['settings-manage'])).token;
    viewToken = (await tokenWith(testApp, ['settings-view'])).token;
  });
  afterAll(async () => testApp?.close());
  beforeEach(async () => {
    // Every test starts from the factory defaults.
    await db().deleteFrom('settings').execute();
  });

  describe('reading', () => {
    it('the section answers the defaults with ETag "0" until the first PUT', async () => {
      const response = await get(SECTION_URL);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual(DEFAULT_SERVICE_OPTIONS);
      expect(response.headers.etag).toBe('"0"');
    });

    it('the scope answers {default_service_options: {...}}', async () => {
      const response = await get(SCOPE_URL);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ default_service_options: DEFAULT_SERVICE_OPTIONS });
      expect(response.headers.etag).toBe('"0"');
    });

    it('settings-manage may read too; a token without settings permissions gets 403, none gets 401', async () => {
      expect((await get(SECTION_URL, manageToken)).statusCode).toBe(200);
      const { token } = await tokenWith(testApp, ['hosts-manage']);
      const denied = await get(SECTION_URL, token);
      expect(denied.statusCode).toBe(403);
      expect(envelope(denied).error_code).toBe('PERMISSION_DENIED');
      const anonymous = await testApp.app.inject({ method: 'GET', url: SECTION_URL });
      expect(anonymous.statusCode).toBe(401);
    });

    it('an unknown scope answers 404 OBJECT_NOT_FOUND naming the scope', async () => {
      for (const url of ['/settings/api/v1/settings/no-such-scope', '/settings/api/v1/settings/no-such-scope/x', '/settings/api/v1/schema/no-such-scope']) {
        const response = await get(url);
        expect(response.statusCode, url).toBe(404);
        expect(envelope(response)).toMatchObject({ error_code: 'OBJECT_NOT_FOUND', property: 'scope' });
      }
    });

    it('an unknown section answers 404 OBJECT_NOT_FOUND naming the section, for GET and PUT', async () => {
      const response = await get('/settings/api/v1/settings/host-store/no_such_section');
      expect(response.statusCode).toBe(404);
      expect(envelope(response)).toMatchObject({ error_code: 'OBJECT_NOT_FOUND', property: 'section' });
      const written = await put('/settings/api/v1/settings/host-store/no_such_section', { a: 1 });
      expect(written.statusCode).toBe(404);
      expect(envelope(written).error_code).toContain('NOT_FOUND');
      expect(await storedRows()).toEqual([]);
    });

    it('the schema endpoint answers a JSON Schema with the five protocol blocks', async () => {
      const response = await get('/settings/api/v1/schema/host-store');
      expect(response.statusCode).toBe(200);
      const schema = response.json();
      expect(schema).toMatchObject({ type: 'object', required: ['default_service_options'], additionalProperties: false });
      const section = schema.properties.default_service_options;
      expect(section.type).toBe('object');
      expect(Object.keys(section.properties)).toEqual(['ssh', 'rdp', 'web', 'vnc', 'db']);
      expect(section.required).toEqual(['ssh', 'rdp', 'web', 'vnc', 'db']);
      expect(section.additionalProperties).toBe(false);
      expect(section.properties.ssh.properties.shell.type).toBe('boolean');
      expect(section.properties.db.properties.max_bytes_upload).toMatchObject({ type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
      expect(section.default).toEqual(DEFAULT_SERVICE_OPTIONS);
    });
  });

  describe('writing', () => {
    it('a PUT of the section is returned by the settings GET and the host-store seed GET, with version 1', async () => {
      const policyBefore = await currentPolicyVersion(db());
      const wanted = options((value) => {
        value.web.clipboard = false;
        value.ssh.x11 = false;
        value.db.max_bytes_download = Number.MAX_SAFE_INTEGER;
      });
      const response = await put(SECTION_URL, wanted);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({});
      expect(response.headers.etag).toBe('"1"');

      const read = await get(SECTION_URL);
      expect(read.json()).toEqual(wanted);
      expect(read.headers.etag).toBe('"1"');
      const seed = await get(SEED_URL, adminToken);
      expect(seed.statusCode).toBe(200);
      expect(seed.json()).toEqual(wanted);
      expect(seed.headers.etag).toBe('"1"');
      expect(await getDefaultServiceOptions(db())).toEqual(wanted);

      const [row] = await storedRows();
      expect(row).toMatchObject({ scope: 'host-store', section: 'default_service_options', version: 1 });
      expect(JSON.parse(row?.value ?? '')).toEqual(wanted);
      expect(await currentPolicyVersion(db())).toBe(policyBefore + 1);
    });

    it('each PUT bumps the version and writes a settings_changed audit event with old → new and who', async () => {
      const first = options((value) => (value.rdp.audio = false));
      const second = options((value) => (value.vnc.clipboard = false));
      expect((await put(SECTION_URL, first)).headers.etag).toBe('"1"');
      expect((await put(SECTION_URL, second)).headers.etag).toBe('"2"');
      const events = await db().selectFrom('audit_events').selectAll().where('type', '=', 'settings_changed').orderBy('seq', 'desc').limit(2).execute();
      const [latest, previous] = events.map((event) => ({ ...event, details: JSON.parse(event.details) }));
      expect(latest?.details).toMatchObject({ scope: 'host-store', section: 'default_service_options', version: 2, previous_version: 1, before: first, after: second });
      expect(latest?.details.changed_by).toMatchObject({ type: 'api-client' });
      expect(latest?.principal_type).toBe('api-client');
      expect(latest?.object_id).toBe('host-store/default_service_options');
      expect(previous?.details).toMatchObject({ version: 1, previous_version: 0, before: DEFAULT_SERVICE_OPTIONS, after: first });
    });

    it('a PUT of the scope writes its sections', async () => {
      const wanted = options((value) => (value.db.max_bytes_upload = 1024));
      const response = await put(SCOPE_URL, { default_service_options: wanted });
      expect(response.statusCode).toBe(200);
      expect(response.headers.etag).toBe('"1"');
      expect((await get(SCOPE_URL)).json()).toEqual({ default_service_options: wanted });
      expect((await get(SEED_URL, adminToken)).json()).toEqual(wanted);
    });

    it('a token with settings-view only cannot PUT (403) and nothing changes', async () => {
      const response = await testApp.app.inject({ method: 'PUT', url: SECTION_URL, headers: bearer(viewToken), payload: options() as unknown as Record<string, unknown> });
      expect(response.statusCode).toBe(403);
      expect(await storedRows()).toEqual([]);
    });
  });

  describe('validation: an invalid PUT is rejected with the code and property and changes nothing', () => {
    const invalidBodies: Array<[string, string, unknown, string, string]> = [
      ['a wrong type', SECTION_URL, options((value) => ((value.ssh as unknown as Record<string, unknown>).shell = 'yes')), 'VALUE_INCORRECT_TYPE', 'ssh.shell'],
      ['a fractional limit', SECTION_URL, options((value) => (value.db.max_bytes_upload = 1.5)), 'VALUE_INCORRECT_TYPE', 'db.max_bytes_upload'],
      ['a string limit', SECTION_URL, options((value) => ((value.db as unknown as Record<string, unknown>).max_bytes_download = '5')), 'VALUE_INCORRECT_TYPE', 'db.max_bytes_download'],
      ['a block that is not an object', SECTION_URL, { ...options(), web: true }, 'VALUE_INCORRECT_TYPE', 'web'],
      ['a negative limit', SECTION_URL, options((value) => (value.db.max_bytes_upload = -1)), 'VALUE_OUT_OF_BOUNDS', 'db.max_bytes_upload'],
      ['a limit above 2^53-1', SECTION_URL, options((value) => (value.db.max_bytes_download = 2 ** 53)), 'VALUE_OUT_OF_BOUNDS', 'db.max_bytes_download'],
      ['an unknown key in a block', SECTION_URL, { ...options(), ssh: { ...DEFAULT_SERVICE_OPTIONS.ssh, telnet: true } }, 'INVALID_REQUEST_DATA', 'ssh.telnet'],
      ['an unknown block', SECTION_URL, { ...options(), ftp: { file_transfer: true } }, 'INVALID_REQUEST_DATA', 'ftp'],
      ['a missing key', SECTION_URL, { ...options(), rdp: { file_transfer: true, audio: true } }, 'REQUIRED_VALUE_MISSING', 'rdp.clipboard'],
      ['a missing block', SECTION_URL, (({ vnc: _vnc, ...rest }) => rest)(options()), 'REQUIRED_VALUE_MISSING', 'vnc'],
      ['a wrong type at scope level', SCOPE_URL, { default_service_options: options((value) => ((value.web as unknown as Record<string, unknown>).audio = 1)) }, 'VALUE_INCORRECT_TYPE', 'default_service_options.web.audio'],
      ['a negative limit at scope level', SCOPE_URL, { default_service_options: options((value) => (value.db.max_bytes_download = -5)) }, 'VALUE_OUT_OF_BOUNDS', 'default_service_options.db.max_bytes_download'],
      ['an unknown section at scope level', SCOPE_URL, { default_service_options: options(), other: {} }, 'INVALID_REQUEST_DATA', 'other'],
      ['a missing section at scope level', SCOPE_URL, {}, 'REQUIRED_VALUE_MISSING', 'default_service_options'],
    ];

    it.each(invalidBodies)('%s', async (_name, url, body, code, property) => {
      // A first write so there is a stored row and version to compare against.
      const stored = options((value) => (value.ssh.exec = false));
      expect((await put(SECTION_URL, stored)).statusCode).toBe(200);
      const rowsBefore = await storedRows();
      const auditBefore = await auditCount();
      const policyBefore = await currentPolicyVersion(db());

      const response = await put(url, body);
      expect(response.statusCode).toBe(400);
      expect(envelope(response)).toMatchObject({ error_code: code, property });

      expect(await storedRows()).toEqual(rowsBefore);
      expect(await auditCount()).toBe(auditBefore);
      expect(await currentPolicyVersion(db())).toBe(policyBefore);
      expect((await get(SECTION_URL)).json()).toEqual(stored);
    });

    it.each([
      ['a missing block', (({ vnc: _vnc, ...rest }) => rest)(options()), 'vnc is required'],
      ['a missing key', { ...options(), rdp: { file_transfer: true, audio: true } }, 'rdp.clipboard is required'],
    ])('%s is named once in the message', async (_name, body, message) => {
      const response = await put(SECTION_URL, body);
      expect(response.statusCode).toBe(400);
      expect(envelope(response).error_message).toBe(message);
    });

    it('an invalid first PUT leaves the defaults in force and no row', async () => {
      const response = await put(SECTION_URL, options((value) => (value.db.max_bytes_upload = -1)));
      expect(response.statusCode).toBe(400);
      expect(await storedRows()).toEqual([]);
      expect((await get(SECTION_URL)).json()).toEqual(DEFAULT_SERVICE_OPTIONS);
    });

    it('an empty body is rejected', async () => {
      const response = await testApp.app.inject({ method: 'PUT', url: SECTION_URL, headers: { ...bearer(manageToken), 'content-type': 'application/json' }, payload: '' });
      expect(response.statusCode).toBe(400);
      envelope(response);
      expect(await storedRows()).toEqual([]);
    });
  });

  describe('concurrency (If-Match / ETag)', () => {
    it('a PUT with the current ETag succeeds; replaying it (now stale) answers 409 CONFLICT and changes nothing', async () => {
      const etag = (await get(SECTION_URL)).headers.etag as string;
      expect(etag).toBe('"0"');
      const first = options((value) => (value.web.file_transfer = false));
      const accepted = await put(SECTION_URL, first, { 'if-match': etag });
      expect(accepted.statusCode).toBe(200);
      expect(accepted.headers.etag).toBe('"1"');

      const rowsBefore = await storedRows();
      const auditBefore = await auditCount();
      const policyBefore = await currentPolicyVersion(db());
      const stale = await put(SECTION_URL, options((value) => (value.web.audio = false)), { 'if-match': etag });
      expect(stale.statusCode).toBe(409);
      expect(envelope(stale).error_code).toBe('CONFLICT');
      expect(await storedRows()).toEqual(rowsBefore);
      expect(await auditCount()).toBe(auditBefore);
      expect(await currentPolicyVersion(db())).toBe(policyBefore);
      expect((await get(SECTION_URL)).json()).toEqual(first);
    });

    it('a stale If-Match on the first write (row not yet stored) answers 409 and stores nothing', async () => {
      const response = await put(SECTION_URL, options(), { 'if-match': '"7"' });
      expect(response.statusCode).toBe(409);
      expect(await storedRows()).toEqual([]);
    });

    it('If-Match accepts weak tags, lists and *', async () => {
      expect((await put(SECTION_URL, options(), { 'if-match': 'W/"0"' })).statusCode).toBe(200);
      expect((await put(SECTION_URL, options(), { 'if-match': '"5", "1"' })).statusCode).toBe(200);
      expect((await put(SECTION_URL, options(), { 'if-match': '*' })).statusCode).toBe(200);
      expect((await storedRows())[0]?.version).toBe(3);
    });

    it('the scope-level PUT honours If-Match too', async () => {
      expect((await put(SCOPE_URL, { default_service_options: options() }, { 'if-match': '"0"' })).statusCode).toBe(200);
      const stale = await put(SCOPE_URL, { default_service_options: options() }, { 'if-match': '"0"' });
      expect(stale.statusCode).toBe(409);
      expect((await storedRows())[0]?.version).toBe(1);
    });

    it('of concurrent PUTs with the same If-Match exactly one wins; the losers change nothing', async () => {
      const bodies = [1, 2, 3, 4].map((limit) => options((value) => (value.db.max_bytes_upload = limit)));
      const responses = await Promise.all(bodies.map((body) => put(SECTION_URL, body, { 'if-match': '"0"' })));
      const statuses = responses.map((response) => response.statusCode).sort();
      expect(statuses).toEqual([200, 409, 409, 409]);
      const winner = bodies[responses.findIndex((response) => response.statusCode === 200)];
      const rows = await storedRows();
      expect(rows).toHaveLength(1);
      expect(rows[0]?.version).toBe(1);
      expect(JSON.parse(rows[0]?.value ?? '')).toEqual(winner);
      expect(await auditCount()).toBeGreaterThan(0);
    });

    it('concurrent PUTs without If-Match all land: the version counts every one and each is audited', async () => {
      const auditBefore = await auditCount();
      const policyBefore = await currentPolicyVersion(db());
      const bodies = [10, 20, 30, 40, 50].map((limit) => options((value) => (value.db.max_bytes_download = limit)));
      const responses = await Promise.all(bodies.map((body) => put(SECTION_URL, body)));
      expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200]);
      expect(responses.map((response) => response.headers.etag).sort()).toEqual(['"1"', '"2"', '"3"', '"4"', '"5"']);
      const rows = await storedRows();
      expect(rows[0]?.version).toBe(5);
      expect(await auditCount()).toBe(auditBefore + 5);
      expect(await currentPolicyVersion(db())).toBe(policyBefore + 5);
      // The audit trail chains: each event's "before" is the previous event's "after".
      const events = (await db().selectFrom('audit_events').select('details').where('type', '=', 'settings_changed').orderBy('seq', 'desc').limit(5).execute())
        .map((event) => JSON.parse(event.details))
        .reverse();
      for (let index = 1; index < events.length; index += 1) {
        expect(events[index].previous_version).toBe(events[index - 1].version);
        expect(events[index].before).toEqual(events[index - 1].after);
      }
    });
  });

  it('a PUT on one node is seen by a second node on the same database', async () => {
    const second = await createTestApp(backend, { storage: testApp.storage });
    try {
      const wanted = options((value) => (value.web.clipboard = false));
      expect((await put(SECTION_URL, wanted)).statusCode).toBe(200);
      expect(await getDefaultServiceOptions(second.app.context.database.db)).toEqual(wanted);
    } finally {
      await second.close();
    }
  });
});
