import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { purgeExpired } from '../../src/services/housekeeping.js';
import { recordAuditEvent } from '../../src/services/monitor-service/audit-log.js';
import { effectiveSettings, settingsChanged } from '../../src/services/settings/effective.js';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, envelope, passwordGrantRequest, tokenWith, type TestApp } from '../helpers/app.js';

const BASE = '/settings/api/v1';

/** Every scope privgate serves and its sections. */
const SCOPES: Record<string, string[]> = {
  auth: ['tokens', 'login_throttle'],
  authorizer: ['sessions'],
  'host-store': ['default_service_options'],
  'local-user-store': ['general'],
  'role-store': ['general'],
  'monitor-service': ['audit'],
  'connection-manager': ['general'],
  global: ['general'],
};

const TOKENS_URL = `${BASE}/settings/auth/tokens`;
const THROTTLE_URL = `${BASE}/settings/auth/login_throttle`;

describe.each(testBackends())('settings scopes on %s', (backend) => {
  let testApp: TestApp;
  let manageToken: string;
  let viewToken: string;

  const db = () => testApp.app.context.database.db;
  const storedRows = () => db().selectFrom('settings').selectAll().orderBy('scope').orderBy('section').execute();
  const auditCount = async () =>
    Number((await db().selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', 'settings_changed').executeTakeFirstOrThrow()).n);
  const put = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    testApp.app.inject({ method: 'PUT', url, headers: { ...bearer(manageToken), ...headers }, payload: payload as Record<string, unknown> });
  const get = (url: string, token = viewToken) => testApp.app.inject({ method: 'GET', url, headers: bearer(token) });

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    manageToken = (await tokenWith(testApp, ['settings-manage'])).token;
    viewToken = (await tokenWith(testApp, ['settings-view'])).token;
  });
  afterAll(async () => testApp?.close());
  beforeEach(async () => {
    // Every test starts from the built-in defaults (and this node forgets what it read).
    await db().deleteFrom('settings').execute();
    settingsChanged(db());
  });

  describe('every scope', () => {
    it.each(Object.entries(SCOPES))('%s answers each of its sections with an ETag, and each section on its own', async (scope, sections) => {
      const response = await get(`${BASE}/settings/${scope}?merge=true`);
      expect(response.statusCode).toBe(200);
      expect(Object.keys(response.json())).toEqual(sections);
      expect(response.headers.etag).toBe(`"${sections.map(() => '0').join('.')}"`);
      for (const section of sections) {
        const one = await get(`${BASE}/settings/${scope}/${section}`);
        expect(one.statusCode).toBe(200);
        expect(one.json()).toEqual(response.json()[section]);
        expect(one.headers.etag).toBe('"0"');
      }
    });

    it.each(Object.entries(SCOPES))('%s has a JSON Schema, and so has each section, with restart_required and x-privgate-acted-on', async (scope, sections) => {
      const response = await get(`${BASE}/schema/${scope}`);
      expect(response.statusCode).toBe(200);
      const schema = response.json();
      expect(schema).toMatchObject({ title: scope, type: 'object', required: sections, restart_required: false });
      for (const section of sections) {
        const one = await get(`${BASE}/schema/${scope}/${section}`);
        expect(one.statusCode).toBe(200);
        expect(one.json()).toEqual(schema.properties[section]);
        expect(one.json()).toMatchObject({ type: 'object', restart_required: false });
        expect(typeof one.json()['x-privgate-acted-on']).toBe('boolean');
      }
    });

    it('the schema tells what privgate acts on: declared auth keys yes, other keys and general sections no', async () => {
      const tokens = (await get(`${BASE}/schema/auth/tokens`)).json();
      expect(tokens['x-privgate-acted-on']).toBe(true);
      expect(tokens.properties.access_token_ttl_seconds).toMatchObject({ type: 'integer', 'x-privgate-acted-on': true });
      expect(tokens.properties.access_token_ttl_seconds['x-privgate-overridden-by']).toBeUndefined();
      expect(tokens.additionalProperties).toMatchObject({ 'x-privgate-acted-on': false });
      expect(tokens.default).toEqual({ access_token_ttl_seconds: 300, refresh_token_ttl_seconds: 8 * 3600 });
      const general = (await get(`${BASE}/schema/global/general`)).json();
      expect(general['x-privgate-acted-on']).toBe(false);
      expect((await get(`${BASE}/schema/host-store/default_service_options`)).json().additionalProperties).toBe(false);
    });

    it('an unknown section schema or restart check answers 404 naming what is unknown', async () => {
      const section = await get(`${BASE}/schema/auth/no_such_section`);
      expect(section.statusCode).toBe(404);
      expect(envelope(section)).toMatchObject({ error_code: 'OBJECT_NOT_FOUND', property: 'section' });
      const scope = await testApp.app.inject({ method: 'POST', url: `${BASE}/restart_required/no-such-scope`, headers: bearer(viewToken), payload: {} });
      expect(scope.statusCode).toBe(404);
      expect(envelope(scope)).toMatchObject({ error_code: 'OBJECT_NOT_FOUND', property: 'scope' });
    });

    it('a token without settings permissions gets 403 on every scope; settings-view cannot PUT', async () => {
      const { token } = await tokenWith(testApp, ['hosts-view']);
      for (const scope of Object.keys(SCOPES)) {
        expect((await get(`${BASE}/settings/${scope}`, token)).statusCode, scope).toBe(403);
        expect((await get(`${BASE}/schema/${scope}`, token)).statusCode, scope).toBe(403);
      }
      const denied = await testApp.app.inject({ method: 'PUT', url: `${BASE}/settings/global/general`, headers: bearer(viewToken), payload: { a: 1 } });
      expect(denied.statusCode).toBe(403);
      expect(await storedRows()).toEqual([]);
    });
  });

  describe('writing', () => {
    it('a PUT is versioned and audited; a stale If-Match answers 409 CONFLICT and changes nothing', async () => {
      const accepted = await put(TOKENS_URL, { access_token_ttl_seconds: 600, refresh_token_ttl_seconds: 3600 }, { 'if-match': '"0"' });
      expect(accepted.statusCode).toBe(200);
      expect(accepted.headers.etag).toBe('"1"');
      const rowsBefore = await storedRows();
      const auditBefore = await auditCount();
      const stale = await put(TOKENS_URL, { access_token_ttl_seconds: 900, refresh_token_ttl_seconds: 3600 }, { 'if-match': '"0"' });
      expect(stale.statusCode).toBe(409);
      expect(envelope(stale).error_code).toBe('CONFLICT');
      expect(await storedRows()).toEqual(rowsBefore);
      expect(await auditCount()).toBe(auditBefore);
      expect((await get(TOKENS_URL)).json()).toEqual({ access_token_ttl_seconds: 600, refresh_token_ttl_seconds: 3600 });
      // The scope-level PUT compares every section's version: "1.0" is current now.
      expect((await get(`${BASE}/settings/auth`)).headers.etag).toBe('"1.0"');
      const scopeStale = await put(
        `${BASE}/settings/auth`,
        { tokens: { access_token_ttl_seconds: 300, refresh_token_ttl_seconds: 3600 }, login_throttle: { per_account: 5, per_address: 50, window_seconds: 300 } },
        { 'if-match': '"0.0"' },
      );
      expect(scopeStale.statusCode).toBe(409);
      expect(await storedRows()).toEqual(rowsBefore);
    });

    it.each([
      ['a lifetime below its bound', TOKENS_URL, { access_token_ttl_seconds: 5, refresh_token_ttl_seconds: 3600 }, 'VALUE_OUT_OF_BOUNDS', 'access_token_ttl_seconds'],
      ['a lifetime of the wrong type', TOKENS_URL, { access_token_ttl_seconds: '600', refresh_token_ttl_seconds: 3600 }, 'VALUE_INCORRECT_TYPE', 'access_token_ttl_seconds'],
      ['a missing declared key', THROTTLE_URL, { per_account: 3, per_address: 10 }, 'REQUIRED_VALUE_MISSING', 'window_seconds'],
      ['a negative retention', `${BASE}/settings/monitor-service/audit`, { retention_days: -1 }, 'VALUE_OUT_OF_BOUNDS', 'retention_days'],
    ])('%s answers 400 and changes nothing', async (_name, url, body, code, property) => {
      expect((await put(THROTTLE_URL, { per_account: 4, per_address: 40, window_seconds: 120 })).statusCode).toBe(200);
      const rowsBefore = await storedRows();
      const auditBefore = await auditCount();
      const response = await put(url, body);
      expect(response.statusCode).toBe(400);
      expect(envelope(response)).toMatchObject({ error_code: code, property });
      expect(await storedRows()).toEqual(rowsBefore);
      expect(await auditCount()).toBe(auditBefore);
    });

    it('other PrivX settings are stored and returned, and the audit event names them without their values', async () => {
      const body = { access_token_ttl_seconds: 600, refresh_token_ttl_seconds: 3600, privx_only: { bind_password: 'not-in-audit' } };
      expect((await put(TOKENS_URL, body)).statusCode).toBe(200);
      expect((await get(TOKENS_URL)).json()).toEqual(body);
      expect((await put(`${BASE}/settings/global/general`, { banner: 'hello', limits: [1, 2] })).statusCode).toBe(200);
      expect((await get(`${BASE}/settings/global`)).json()).toEqual({ general: { banner: 'hello', limits: [1, 2] } });
      const event = await db().selectFrom('audit_events').select('details').where('type', '=', 'settings_changed').where('object_id', '=', 'auth/tokens').orderBy('seq', 'desc').executeTakeFirstOrThrow();
      expect(event.details).not.toContain('not-in-audit');
      expect(JSON.parse(event.details)).toMatchObject({ after: { access_token_ttl_seconds: 600 }, other_keys_changed: ['privx_only'] });
    });

    it('restart_required answers per section (privgate reads its settings live: false) and changes nothing', async () => {
      const response = await testApp.app.inject({
        method: 'POST',
        url: `${BASE}/restart_required/auth`,
        headers: bearer(viewToken),
        payload: { tokens: { access_token_ttl_seconds: 120, refresh_token_ttl_seconds: 3600 } },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ restart_required: false, sections: { tokens: false } });
      const bad = await testApp.app.inject({ method: 'POST', url: `${BASE}/restart_required/auth`, headers: bearer(viewToken), payload: { tokens: { access_token_ttl_seconds: 1 } } });
      expect(bad.statusCode).toBe(400);
      expect(await storedRows()).toEqual([]);
    });
  });

  describe('settings privgate acts on', () => {
    it('the access-token lifetime setting decides expires_in of the next token', async () => {
      const { credentials } = await tokenWith(testApp, []);
      expect((await testApp.app.inject(passwordGrantRequest(credentials))).json().expires_in).toBe(300);
      expect((await put(TOKENS_URL, { access_token_ttl_seconds: 120, refresh_token_ttl_seconds: 3600 })).statusCode).toBe(200);
      const response = await testApp.app.inject(passwordGrantRequest(credentials));
      expect(response.statusCode).toBe(200);
      expect(response.json().expires_in).toBe(120);
      const payload = JSON.parse(Buffer.from(String(response.json().access_token).split('.')[1] ?? '', 'base64url').toString());
      expect(payload.exp - payload.iat).toBe(120);
    });

    it('the throttle limit setting decides when failed logins answer 429', async () => {
      expect((await put(THROTTLE_URL, { per_account: 2, per_address: 1000, window_seconds: 300 })).statusCode).toBe(200);
      const victim = await tokenWith(testApp, []);
      for (let attempt = 0; attempt < 2; attempt += 1) {
        expect((await testApp.app.inject(passwordGrantRequest({ ...victim.credentials, secret: 'guess' }))).statusCode).toBe(401);
      }
      const blocked = await testApp.app.inject(passwordGrantRequest(victim.credentials));
      expect(blocked.statusCode).toBe(429);
      expect(blocked.headers['retry-after']).toBe('300');
    });

    it('the audit retention setting makes housekeeping delete older audit events only', async () => {
      const now = testApp.app.context.clock.now();
      const old = new Date(now.getTime() - 3 * 86_400_000);
      await recordAuditEvent(db(), { type: 'retention_probe_old', outcome: 'success', details: {}, at: old });
      await recordAuditEvent(db(), { type: 'retention_probe_new', outcome: 'success', details: {}, at: now });
      const probes = async () => (await db().selectFrom('audit_events').select('type').where('type', 'like', 'retention_probe_%').execute()).map((row) => row.type).sort();
      const purge = async () =>
        purgeExpired(testApp.app.context.database, now, { throttleWindowSeconds: 300, auditRetentionDays: await effectiveSettings(testApp.app.context).auditRetentionDays() });
      expect((await purge()).audit_events).toBe(0);
      expect(await probes()).toEqual(['retention_probe_new', 'retention_probe_old']);
      expect((await put(`${BASE}/settings/monitor-service/audit`, { retention_days: 2 })).statusCode).toBe(200);
      await purge();
      expect(await probes()).toEqual(['retention_probe_new']);
    });
  });
});

describe.each(testBackends())('environment overrides on %s', (backend) => {
  let testApp: TestApp;
  beforeAll(async () => {
    testApp = await createTestApp(backend, { env: { PRIVGATE_ACCESS_TOKEN_TTL: '90' } });
  });
  afterAll(async () => testApp?.close());

  it('a set variable wins over the stored setting, and the schema names it', async () => {
    const manage = await tokenWith(testApp, ['settings-manage']);
    const put = await testApp.app.inject({
      method: 'PUT',
      url: TOKENS_URL,
      headers: bearer(manage.token),
      payload: { access_token_ttl_seconds: 120, refresh_token_ttl_seconds: 3600 },
    });
    expect(put.statusCode).toBe(200);
    // Stored and answered as written…
    expect((await testApp.app.inject({ method: 'GET', url: TOKENS_URL, headers: bearer(manage.token) })).json().access_token_ttl_seconds).toBe(120);
    // …but the variable is in force, and the schema says so.
    expect((await testApp.app.inject(passwordGrantRequest(manage.credentials))).json().expires_in).toBe(90);
    const schema = (await testApp.app.inject({ method: 'GET', url: `${BASE}/schema/auth/tokens`, headers: bearer(manage.token) })).json();
    expect(schema.properties.access_token_ttl_seconds['x-privgate-overridden-by']).toBe('PRIVGATE_ACCESS_TOKEN_TTL');
    expect(schema.properties.refresh_token_ttl_seconds['x-privgate-overridden-by']).toBeUndefined();
  });
});
