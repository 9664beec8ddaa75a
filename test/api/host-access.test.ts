import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passphraseSealContext } from '../../src/services/host-store/principal-secret-repository.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const HOSTS = '/host-store/api/v1/hosts';
const WHITELISTS = '/host-store/api/v1/whitelists';
const LOCAL_USERS = '/local-user-store/api/v1/users';
const ROLES = '/role-store/api/v1/roles';
const PASSPHRASE = 'S3cret-Passphrase-Never-Shown';

describe.each(testBackends())('host principals and the access resolver on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  let viewer: string;
  let outsider: string;
  let wlDefault: string;
  let wlOps: string;
  let ops: { id: string; name: string };
  let other: { id: string; name: string };
  let limited: { id: string; name: string };
  let hostId: string;

  const db = () => testApp.app.context.database.db;
  const inject = (method: InjectOptions['method'], url: string, payload?: unknown, token = admin) =>
    testApp.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as object }) });
  const access = (query: Record<string, string>, token = admin) => inject('GET', `${HOSTS}/${hostId}/access?${new URLSearchParams(query).toString()}`, undefined, token);

  async function created(url: string, body: unknown): Promise<string> {
    const response = await inject('POST', url, body);
    expect(response.statusCode, response.body).toBe(201);
    return response.json().id as string;
  }
  async function role(name: string, extra: Record<string, unknown> = {}): Promise<{ id: string; name: string }> {
    return { id: await created(ROLES, { name, permissions: ['hosts-view'], ...extra }), name };
  }
  const hostDocument = (): Record<string, unknown> => ({
    common_name: 'access-host',
    addresses: ['192.0.2.77'],
    services: [{ service: 'SSH', address: '192.0.2.77', port: 22 }],
    principals: [
      {
        principal: 'root',
        roles: [{ id: ops.id, name: ops.name }, { id: limited.id }],
        passphrase: PASSPHRASE,
        service_options: { ssh: { shell: false, file_transfer: true, exec: true, tunnels: false, x11: false, other: false } },
        command_restrictions: {
          enabled: true,
          rshell_variant: 'bash',
          banner: 'restricted',
          audit_match: true,
          default_whitelist: { id: wlDefault },
          whitelists: [{ whitelist: { id: wlOps }, roles: [{ id: ops.id }] }],
        },
      },
      { principal: 'app', roles: [{ id: other.id }], use_user_account: true },
      { principal: 'nobody-listed', roles: [] },
    ],
  });
  const secrets = () => db().selectFrom('host_principal_secrets').selectAll().where('host_id', '=', hostId).orderBy('principal').execute();
  const openSecret = (row: { host_id: string; principal: string; passphrase_sealed: string }) =>
    testApp.app.context.installationKey.openText(row.passphrase_sealed, passphraseSealContext(row.host_id, row.principal));

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
    viewer = (await tokenWith(testApp, ['hosts-view'])).token;
    outsider = (await tokenWith(testApp, ['users-view'])).token;
    wlDefault = await created(WHITELISTS, { name: 'access-default', type: 'glob', whitelist_patterns: ['ls *'] });
    wlOps = await created(WHITELISTS, { name: 'access-ops', type: 'glob', whitelist_patterns: ['systemctl status *'] });
    ops = await role('access-ops');
    other = await role('access-other');
    limited = await role('access-limited', { context: { enabled: true, ip_masks: ['10.0.0.0/8'], validity: [], start_time: '', end_time: '', timezone: '' } });
    await created(LOCAL_USERS, { username: 'alice', roles: [{ id: ops.id }, { id: other.id }] });
    await created(LOCAL_USERS, { username: 'bob', roles: [{ id: other.id }] });
    await created(LOCAL_USERS, { username: 'carol', roles: [{ id: ops.id }], disabled: true });
    await created(LOCAL_USERS, { username: 'dave', roles: [{ id: limited.id }] });
    await created(LOCAL_USERS, { username: 'erin' });
    hostId = await created(HOSTS, hostDocument());
  });
  afterAll(async () => testApp?.close());

  it('allowed through a listed role: effective service options, command restrictions with patterns, no secret', async () => {
    const response = await access({ user: 'alice', service: 'SSH', principal: 'root' }, viewer);
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ host_id: hostId, user: { username: 'alice' }, service: 'SSH', allowed: true });
    expect(body.decisions).toHaveLength(1);
    const decision = body.decisions[0];
    expect(decision).toMatchObject({ principal: 'root', allowed: true, reason: 'allowed', via_roles: [ops], excluded_roles: [], use_user_account: false, has_passphrase: true });
    expect(decision.service_options.ssh).toEqual({ shell: false, file_transfer: true, exec: true, tunnels: false, x11: false, other: false });
    expect(decision.service_options.rdp).toBeDefined();
    expect(decision.command_restrictions).toMatchObject({
      enabled: true,
      rshell_variant: 'bash',
      banner: 'restricted',
      audit_match: true,
      audit_no_match: false,
      allow_no_match: false,
      default_whitelist: { id: wlDefault, patterns: ['ls *'] },
      whitelists: [{ id: wlOps, name: 'access-ops', type: 'glob', patterns: ['systemctl status *'] }],
      effective_whitelists: [{ id: wlOps }],
    });
    expect(response.body).not.toContain(PASSPHRASE);

    // The user by id works too; without `principal`, every principal of the host is decided.
    const byId = await access({ user: body.user.id, service: 'SSH' });
    expect(byId.statusCode).toBe(200);
    expect(byId.json().decisions.map((entry: { principal: string; allowed: boolean; reason: string }) => [entry.principal, entry.allowed, entry.reason])).toEqual([
      ['root', true, 'allowed'],
      ['app', true, 'allowed'],
      ['nobody-listed', false, 'no_role'],
    ]);
    expect(byId.json().decisions[1]).toMatchObject({ use_user_account: true, has_passphrase: false, command_restrictions: null });
  });

  it('denied: no listed role, disabled user, unknown service, unknown principal, contextual limit', async () => {
    const reason = async (query: Record<string, string>) => {
      const response = await access(query);
      expect(response.statusCode, response.body).toBe(200);
      const decision = response.json().decisions[0];
      expect(decision.allowed === false ? decision.service_options : null).toBeNull();
      return [response.json().allowed, decision.reason];
    };
    expect(await reason({ user: 'bob', service: 'SSH', principal: 'root' })).toEqual([false, 'no_role']);
    expect(await reason({ user: 'erin', service: 'SSH', principal: 'root' })).toEqual([false, 'no_role']);
    expect(await reason({ user: 'carol', service: 'SSH', principal: 'root' })).toEqual([false, 'user_disabled']);
    expect(await reason({ user: 'alice', service: 'RDP', principal: 'root' })).toEqual([false, 'service_not_on_host']);
    expect(await reason({ user: 'alice', service: 'SSH', principal: 'ghost' })).toEqual([false, 'principal_not_on_host']);

    // dave's only role is limited to 10.0.0.0/8: from elsewhere (or unknown) it does not apply.
    const outside = await access({ user: 'dave', service: 'SSH', principal: 'root', address: '192.0.2.1' });
    expect(outside.json().decisions[0]).toMatchObject({ allowed: false, reason: 'roles_excluded_by_context', excluded_roles: [limited], via_roles: [] });
    expect(await reason({ user: 'dave', service: 'SSH', principal: 'root' })).toEqual([false, 'roles_excluded_by_context']);
    const inside = await access({ user: 'dave', service: 'SSH', principal: 'root', address: '10.1.2.3', at: '2026-01-05T12:00:00Z' });
    expect(inside.json()).toMatchObject({ allowed: true, at: '2026-01-05T12:00:00.000Z', address: '10.1.2.3' });
    // No grant for dave's role: the default whitelist is what applies.
    expect(inside.json().decisions[0]).toMatchObject({ via_roles: [limited], command_restrictions: { whitelists: [], effective_whitelists: [{ id: wlDefault }] } });
  });

  it('a disabled host allows nobody; enabled again it does', async () => {
    expect((await inject('PUT', `${HOSTS}/${hostId}/disabled`, { disabled: true })).statusCode).toBe(200);
    const denied = await access({ user: 'alice', service: 'SSH', principal: 'root' });
    expect(denied.json()).toMatchObject({ allowed: false, decisions: [{ reason: 'host_disabled' }] });
    expect((await inject('PUT', `${HOSTS}/${hostId}/disabled`, { disabled: false })).statusCode).toBe(200);
    expect((await access({ user: 'alice', service: 'SSH', principal: 'root' })).json().allowed).toBe(true);
  });

  it('errors: unknown host or user 404, bad query 400, permissions declared on the route', async () => {
    const unknownUser = await access({ user: 'nobody-such', service: 'SSH' });
    expect(unknownUser.statusCode).toBe(404);
    expect(envelope(unknownUser)).toMatchObject({ error_code: 'OBJECT_NOT_FOUND', property: 'user' });
    const unknownHost = await inject('GET', `${HOSTS}/00000000-0000-4000-8000-00000000dead/access?user=alice&service=SSH`);
    expect(unknownHost.statusCode).toBe(404);
    expect((await access({ user: 'alice', service: 'FTP' })).statusCode).toBe(400);
    expect((await access({ user: 'alice' })).statusCode).toBe(400);
    expect((await access({ user: 'alice', service: 'SSH', at: 'yesterday' })).statusCode).toBe(400);
    expect((await access({ user: 'alice', service: 'SSH' }, outsider)).statusCode).toBe(403);
  });

  it('the passphrase is never returned, never in the document column nor in audit rows; sealed for its host and principal', async () => {
    const get = await inject('GET', `${HOSTS}/${hostId}`, undefined, viewer);
    expect(get.statusCode).toBe(200);
    expect(get.body).not.toContain(PASSPHRASE);
    expect(get.json().principals[0].passphrase ?? '').toBe('');
    const row = await db().selectFrom('hosts').select('document').where('id', '=', hostId).executeTakeFirstOrThrow();
    expect(row.document).not.toContain(PASSPHRASE);
    expect(row.document).not.toContain('passphrase');
    const audit = await db().selectFrom('audit_events').selectAll().where('object_id', '=', hostId).execute();
    expect(audit.length).toBeGreaterThan(0);
    expect(JSON.stringify(audit)).not.toContain(PASSPHRASE);
    expect(JSON.stringify(audit)).toContain('passphrases_set');
    const stored = await secrets();
    expect(stored.map((secret) => secret.principal)).toEqual(['root']);
    expect(stored[0]!.passphrase_sealed).not.toContain(PASSPHRASE);
    expect(openSecret(stored[0]!)).toBe(PASSPHRASE);
    // Bound to its host and principal: under another context it does not open.
    expect(() => testApp.app.context.installationKey.openText(stored[0]!.passphrase_sealed, passphraseSealContext(hostId, 'app'))).toThrow();
    expect(testApp.logs.join('\n')).not.toContain(PASSPHRASE);
  });

  it('a PUT echoing GET keeps the passphrase; a new one replaces it; a removed principal loses it; delete removes it', async () => {
    const sealedBefore = (await secrets())[0]!.passphrase_sealed;
    const echoed = (await inject('GET', `${HOSTS}/${hostId}`)).json();
    const echo = await inject('PUT', `${HOSTS}/${hostId}`, { ...echoed, principals: echoed.principals.map((principal: object) => ({ ...principal, passphrase: '' })) });
    expect(echo.statusCode, echo.body).toBe(200);
    const kept = await secrets();
    expect(kept.map((secret) => secret.passphrase_sealed)).toEqual([sealedBefore]);
    expect(openSecret(kept[0]!)).toBe(PASSPHRASE);

    const replaced = await inject('PUT', `${HOSTS}/${hostId}`, { ...echoed, principals: echoed.principals.map((principal: { principal: string }) => (principal.principal === 'root' ? { ...principal, passphrase: 'another-one' } : principal)) });
    expect(replaced.statusCode, replaced.body).toBe(200);
    expect(openSecret((await secrets())[0]!)).toBe('another-one');
    const audit = await db().selectFrom('audit_events').selectAll().where('object_id', '=', hostId).execute();
    expect(JSON.stringify(audit)).not.toContain('another-one');

    const withoutRoot = await inject('PUT', `${HOSTS}/${hostId}`, { ...echoed, principals: echoed.principals.filter((principal: { principal: string }) => principal.principal !== 'root') });
    expect(withoutRoot.statusCode, withoutRoot.body).toBe(200);
    expect(await secrets()).toEqual([]);

    const other = await created(HOSTS, { common_name: 'access-doomed', principals: [{ principal: 'x', passphrase: 'doomed-secret' }] });
    expect(await db().selectFrom('host_principal_secrets').select('principal').where('host_id', '=', other).execute()).toHaveLength(1);
    expect((await inject('DELETE', `${HOSTS}/${other}`)).statusCode).toBe(200);
    expect(await db().selectFrom('host_principal_secrets').select('principal').where('host_id', '=', other).execute()).toEqual([]);

    // Put the host back as the other tests made it.
    expect((await inject('PUT', `${HOSTS}/${hostId}`, hostDocument())).statusCode).toBe(200);
  });

  it('command restrictions naming an unknown whitelist (or a grant naming none) are 400 and change nothing', async () => {
    const before = await db().selectFrom('hosts').select(['id', 'document', 'updated']).orderBy('id').execute();
    const secretsBefore = await secrets();
    const unknown = '00000000-0000-4000-8000-0000000000aa';
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ enabled: true, default_whitelist: { id: unknown } }, 'principals[0].command_restrictions.default_whitelist.id'],
      [{ enabled: true, default_whitelist: {}, whitelists: [{ whitelist: { id: unknown }, roles: [] }] }, 'principals[0].command_restrictions.whitelists[0].whitelist.id'],
      [{ enabled: true, whitelists: [{ whitelist: {}, roles: [] }] }, 'principals[0].command_restrictions.whitelists[0].whitelist.id'],
    ];
    for (const [restrictions, property] of cases) {
      const body = { common_name: 'bad-wl', principals: [{ principal: 'root', passphrase: 'not-stored', command_restrictions: restrictions }] };
      const post = await inject('POST', HOSTS, body);
      expect(post.statusCode, post.body).toBe(400);
      expect(envelope(post).property).toBe(property);
      const put = await inject('PUT', `${HOSTS}/${hostId}`, body);
      expect(put.statusCode, put.body).toBe(400);
      expect(envelope(put).property).toBe(property);
    }
    expect(await db().selectFrom('hosts').select(['id', 'document', 'updated']).orderBy('id').execute()).toEqual(before);
    expect(await secrets()).toEqual(secretsBefore);
    // The Go SDK's zero value (`default_whitelist: {}`, no grants) is no whitelist, and fine.
    const zero = await inject('POST', HOSTS, { common_name: 'zero-wl', principals: [{ principal: 'root', command_restrictions: { enabled: false, default_whitelist: {}, whitelists: null } }] });
    expect(zero.statusCode, zero.body).toBe(201);
  });
});
