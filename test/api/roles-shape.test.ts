/**
 * Roles as the PrivX SDKs and the Terraform provider send and read them: every field of the Go
 * SDK's Role round-trips, names resolve, search and lists page, principal keys keep their private
 * half sealed, and contextual limits decide at token issue.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { principalKeySealContext } from '../../src/services/role-store/principal-key-repository.js';
import { ADMIN_ROLE_ID } from '../../src/services/role-store/permissions.js';
import { bearer, createTestApp, envelope, passwordGrantRequest, tokenWith, type ClientCredentials, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const ROLES = '/role-store/api/v1/roles';
const USERS = '/local-user-store/api/v1/users';
const DEFAULT_GROUP = '00000000-0000-4000-8000-0000000000a1';
/** A second access group, made through the API in beforeAll (a role may only name an existing group). */
let otherGroup = '';

let counter = 0;
function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${crypto.randomBytes(3).toString('hex')}`;
}

/** A role body with every field the Go SDK's Role carries, read-only ones included (clients echo them). */
function fullRole(name: string) {
  return {
    id: '',
    name,
    comment: 'every field',
    permissions: ['users-view', 'hosts-view'],
    access_group_id: otherGroup,
    source_rules: {
      type: 'GROUP',
      match: 'ALL',
      rules: [
        { type: 'RULE', source: 'local', search_string: 'ops-*', rules: null },
        { type: 'GROUP', match: 'ANY', rules: [{ type: 'RULE', source: 'ldap', search_string: 'cn=admins' }] },
      ],
    },
    context: { enabled: true, block_role: true, validity: ['mon', 'Friday'], start_time: '08:00', end_time: '17:30', timezone: 'Europe/Helsinki', ip_masks: ['10.0.0.0/8', '2001:db8::/32'] },
    permit_agent: true,
    tags: ['ops', 'eu'],
    grant_type: 'TIME_RESTRICTED',
    grant_start: '2026-01-01T00:00:00Z',
    grant_end: '2027-01-01T00:00:00Z',
    grant_validity_periods: [{ grant_start: '2026-02-01T08:00:00Z', grant_end: '2026-02-01T16:00:00Z' }],
    floating_length: 3600,
    // Read-only: ignored.
    explicit: false,
    implicit: true,
    system: true,
    owner_src: 'ldap',
    principal_public_key_strings: ['ssh-rsa AAAAnotmine'],
    member_count: 99,
    explicit_count: 99,
    created: '2001-01-01T00:00:00Z',
    updatedby: 'someone',
  };
}

/** What a Go SDK Role with only the Terraform provider's fields looks like on the wire (null slices, empty strings). */
function goMinimalRole(name: string) {
  return {
    id: '',
    name,
    explicit: false,
    implicit: false,
    system: false,
    permissions: null,
    access_group_id: '',
    owner_src: '',
    source_rules: { type: 'GROUP', match: 'ANY', rules: [] },
    context: { enabled: false, validity: null, start_time: '', end_time: '', timezone: '', ip_masks: null },
  };
}

describe.each(testBackends())('roles as the SDKs see them, on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
    const group = await testApp.app.inject({ method: 'POST', url: '/authorizer/api/v1/accessgroups', headers: bearer(admin), payload: { name: `roles-shape-${backend}` } });
    expect(group.statusCode, group.body).toBe(201);
    otherGroup = group.json().id as string;
  });
  afterAll(async () => testApp?.close());

  const db = () => testApp.app.context.database.db;

  async function create(body: object): Promise<string> {
    const response = await testApp.app.inject({ method: 'POST', url: ROLES, headers: bearer(admin), payload: body });
    expect(response.statusCode, response.body).toBe(201);
    return response.json().id;
  }

  async function read(id: string) {
    const response = await testApp.app.inject({ method: 'GET', url: `${ROLES}/${id}`, headers: bearer(admin) });
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  }

  async function tableSnapshot(): Promise<string> {
    return JSON.stringify({
      roles: await db().selectFrom('roles').selectAll().orderBy('id').execute(),
      keys: await db().selectFrom('role_principal_keys').selectAll().orderBy('id').execute(),
      members: await db().selectFrom('role_members').selectAll().orderBy('role_id').orderBy('principal_id').execute(),
    });
  }

  describe('fields', () => {
    it('every field written reads back as written; read-only fields sent are ignored', async () => {
      const body = fullRole(uniqueName('full'));
      const id = await create(body);
      const role = await read(id);
      const { id: _id, explicit: _e, implicit: _i, system: _s, owner_src: _o, principal_public_key_strings: _p, member_count: _m, explicit_count: _x, created: _c, updatedby: _u, ...written } = body;
      // A null `rules` (a Go nil slice) reads back as [], so the provider's JSON compare of its default holds.
      const rules = structuredClone(written.source_rules);
      rules.rules[0]!.rules = [] as never;
      expect(role).toMatchObject({ ...written, source_rules: rules });
      expect(role.source_rules.rules[1].rules[0].rules).toEqual([]);
      expect(role).toMatchObject({ id, system: false, explicit: true, implicit: false, owner_src: '', principal_public_key_strings: [], member_count: 0, explicit_count: 0 });
      expect(role.created).not.toBe('2001-01-01T00:00:00Z');
      expect(role.updated_by).toBe(role.author);
      expect(role.updatedby).toBe(role.author);
      const row = await db().selectFrom('roles').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      expect(JSON.parse(row.context)).toEqual(body.context);
      expect(row.access_group_id).toBe(body.access_group_id);
      expect(row.permit_agent).toBe(1);
      expect(Number(row.floating_length)).toBe(3600);
    });

    it('a PUT replaces every field, and what the Go SDK leaves out reads back empty', async () => {
      const id = await create(fullRole(uniqueName('replace')));
      const name = uniqueName('replaced');
      const response = await testApp.app.inject({ method: 'PUT', url: `${ROLES}/${id}`, headers: bearer(admin), payload: goMinimalRole(name) });
      expect(response.statusCode, response.body).toBe(200);
      const role = await read(id);
      expect(role).toMatchObject({
        name,
        comment: '',
        permissions: [],
        access_group_id: DEFAULT_GROUP,
        source_rules: { type: 'GROUP', match: 'ANY', rules: [] },
        context: { enabled: false, validity: [], start_time: '', end_time: '', timezone: '', ip_masks: [] },
        permit_agent: false,
        tags: [],
        grant_validity_periods: [],
        floating_length: 0,
      });
      // Empty timestamps and grant type are left out, never sent as "" or null.
      for (const key of ['grant_type', 'grant_start', 'grant_end']) expect(role).not.toHaveProperty(key);
    });

    it('an empty access_group_id is the default group; a list shows every field too', async () => {
      const name = uniqueName('go-minimal');
      const id = await create(goMinimalRole(name));
      expect((await read(id)).access_group_id).toBe(DEFAULT_GROUP);
      const list = await testApp.app.inject({ method: 'GET', url: ROLES, headers: bearer(admin) });
      const listed = list.json().items.find((item: { id: string }) => item.id === id);
      expect(listed).toEqual(await read(id));
    });

    it.each([
      [{ access_group_id: 'not-a-uuid' }, 'access_group_id'],
      [{ access_group_id: '0b0b0b0b-0000-4000-8000-00000000dead' }, 'access_group_id'],
      [{ context: { enabled: true, timezone: 'Mars/Olympus_Mons' } }, 'context.timezone'],
      [{ context: { enabled: true, ip_masks: ['10.0.0.0/99'] } }, 'context.ip_masks[0]'],
      [{ context: { enabled: true, validity: ['someday'] } }, 'context.validity[0]'],
      [{ context: { enabled: true, start_time: '7 o\'clock' } }, 'context.start_time'],
      [{ source_rules: { type: 'GROUP', rules: ['not a rule'] } }, 'source_rules.rules[0]'],
      [{ source_rules: { type: 5 } }, 'source_rules.type'],
      [{ grant_start: 'yesterday' }, 'grant_start'],
      [{ grant_validity_periods: [{ grant_end: '2026-13-45' }] }, 'grant_validity_periods[0].grant_end'],
      [{ floating_length: -1 }, undefined],
      [{ permissions: ['no-such-permission'] }, 'permissions[0]'],
    ])('bad input %j is 400 naming %s, and creates or changes nothing', async (change, property) => {
      const id = await create(goMinimalRole(uniqueName('target')));
      const before = await tableSnapshot();
      for (const [method, url] of [['POST', ROLES], ['PUT', `${ROLES}/${id}`]] as const) {
        const response = await testApp.app.inject({ method, url, headers: bearer(admin), payload: { ...goMinimalRole(uniqueName('bad')), ...change } });
        expect(response.statusCode, response.body).toBe(400);
        const body = envelope(response);
        if (property) expect(body.property).toBe(property);
      }
      expect(await tableSnapshot()).toBe(before);
    });

    it('source rules nested too deep are 400', async () => {
      let rule: object = { type: 'RULE', source: 'local' };
      for (let depth = 0; depth < 12; depth += 1) rule = { type: 'GROUP', match: 'ANY', rules: [rule] };
      const response = await testApp.app.inject({ method: 'POST', url: ROLES, headers: bearer(admin), payload: { ...goMinimalRole(uniqueName('deep')), source_rules: rule } });
      expect(response.statusCode).toBe(400);
      expect(envelope(response).error_code).toBe('INVALID_REQUEST_DATA');
    });

    it('privx-admin cannot get an enabled contextual limit (400, unchanged); a disabled one is accepted', async () => {
      const adminRole = await read(ADMIN_ROLE_ID);
      const before = await tableSnapshot();
      const limited = { ...adminRole, context: { enabled: true, ip_masks: ['10.0.0.0/8'], validity: [], start_time: '', end_time: '', timezone: '' } };
      const refused = await testApp.app.inject({ method: 'PUT', url: `${ROLES}/${ADMIN_ROLE_ID}`, headers: bearer(admin), payload: limited });
      expect(refused.statusCode, refused.body).toBe(400);
      expect(envelope(refused).property).toBe('context.enabled');
      expect(await tableSnapshot()).toBe(before);
      const echoed = await testApp.app.inject({ method: 'PUT', url: `${ROLES}/${ADMIN_ROLE_ID}`, headers: bearer(admin), payload: adminRole });
      expect(echoed.statusCode, echoed.body).toBe(200);
    });
  });

  describe('resolve, search and paging', () => {
    const prefix = `page-${crypto.randomBytes(3).toString('hex')}`;
    const names = [`${prefix}-c`, `${prefix}-a`, `${prefix}-b`];
    const ids = new Map<string, string>();
    beforeAll(async () => {
      for (const name of names) ids.set(name, await create({ ...goMinimalRole(name), comment: name.endsWith('b') ? 'the Bravo role' : '' }));
    });

    it('POST /roles/resolve answers {id, name} of the names that exist, as ResolveRoles reads them', async () => {
      const response = await testApp.app.inject({ method: 'POST', url: `${ROLES}/resolve`, headers: bearer(admin), payload: ['privx-admin', `${prefix}-a`, 'no-such-role'] });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toEqual({
        count: 2,
        items: [
          { id: ids.get(`${prefix}-a`), name: `${prefix}-a` },
          { id: ADMIN_ROLE_ID, name: 'privx-admin' },
        ].sort((a, b) => (a.name < b.name ? -1 : 1)),
      });
    });

    it('resolve: null is no names; a non-array is 400', async () => {
      const empty = await testApp.app.inject({ method: 'POST', url: `${ROLES}/resolve`, headers: { ...bearer(admin), 'content-type': 'application/json' }, payload: 'null' });
      expect(empty.json()).toEqual({ count: 0, items: [] });
      const bad = await testApp.app.inject({ method: 'POST', url: `${ROLES}/resolve`, headers: bearer(admin), payload: { name: 'privx-admin' } });
      expect(bad.statusCode).toBe(400);
      envelope(bad);
    });

    it('resolve is open to who assigns roles (api-clients-manage), not to a token without such a permission', async () => {
      const { token } = await tokenWith(testApp, ['api-clients-manage']);
      expect((await testApp.app.inject({ method: 'POST', url: `${ROLES}/resolve`, headers: bearer(token), payload: ['privx-admin'] })).statusCode).toBe(200);
      const { token: hostsOnly } = await tokenWith(testApp, ['settings-view']);
      expect((await testApp.app.inject({ method: 'POST', url: `${ROLES}/resolve`, headers: bearer(hostsOnly), payload: ['privx-admin'] })).statusCode).toBe(403);
    });

    it('POST /roles/evaluate validates the definition and, as source rules are not evaluated, adds nobody', async () => {
      const ok = await testApp.app.inject({ method: 'POST', url: `${ROLES}/evaluate`, headers: bearer(admin), payload: fullRole(uniqueName('evaluate')) });
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json()).toEqual({ count: 0, items: [] });
      const before = await tableSnapshot();
      const bad = await testApp.app.inject({ method: 'POST', url: `${ROLES}/evaluate`, headers: bearer(admin), payload: { ...goMinimalRole('x'), access_group_id: 'nope' } });
      expect(bad.statusCode).toBe(400);
      expect(envelope(bad).property).toBe('access_group_id');
      expect(await tableSnapshot()).toBe(before);
    });

    it('GET /roles honours limit, offset, sortkey and sortdir; count is the total', async () => {
      const all = (await testApp.app.inject({ method: 'GET', url: ROLES, headers: bearer(admin) })).json();
      const one = await testApp.app.inject({ method: 'GET', url: `${ROLES}?limit=1`, headers: bearer(admin) });
      expect(one.statusCode).toBe(200);
      expect(one.json().count).toBe(all.count);
      expect(one.json().items).toHaveLength(1);
      expect(one.json().items[0].id).toBe(all.items[0].id);
      const second = (await testApp.app.inject({ method: 'GET', url: `${ROLES}?offset=1&limit=2`, headers: bearer(admin) })).json();
      expect(second.items.map((item: { id: string }) => item.id)).toEqual(all.items.slice(1, 3).map((item: { id: string }) => item.id));
      const descending = (await testApp.app.inject({ method: 'GET', url: `${ROLES}?sortkey=name&sortdir=DESC`, headers: bearer(admin) })).json();
      expect(descending.items.map((item: { name: string }) => item.name)).toEqual(all.items.map((item: { name: string }) => item.name).reverse());
      const offsetOnly = (await testApp.app.inject({ method: 'GET', url: `${ROLES}?offset=${all.count - 1}`, headers: bearer(admin) })).json();
      expect(offsetOnly.items).toHaveLength(1);
    });

    it('bad paging is 400: an unknown sortkey, a negative offset, a non-number limit', async () => {
      for (const query of ['sortkey=password', 'offset=-1', 'limit=many', 'sortdir=sideways']) {
        const response = await testApp.app.inject({ method: 'GET', url: `${ROLES}?${query}`, headers: bearer(admin) });
        expect(response.statusCode, query).toBe(400);
        envelope(response);
      }
    });

    it('POST /roles/search: names (any of), keywords, paging', async () => {
      const byName = await testApp.app.inject({ method: 'POST', url: `${ROLES}/search?sortkey=name&sortdir=asc`, headers: bearer(admin), payload: { name: [`${prefix}-c`, `${prefix}-a`] } });
      expect(byName.statusCode, byName.body).toBe(200);
      expect(byName.json().items.map((item: { name: string }) => item.name)).toEqual([`${prefix}-a`, `${prefix}-c`]);
      const keywords = (await testApp.app.inject({ method: 'POST', url: `${ROLES}/search`, headers: bearer(admin), payload: { keywords: 'BRAVO' } })).json();
      expect(keywords.items.map((item: { name: string }) => item.name)).toEqual([`${prefix}-b`]);
      const paged = (await testApp.app.inject({ method: 'POST', url: `${ROLES}/search?limit=1&offset=1`, headers: bearer(admin), payload: { keywords: prefix } })).json();
      expect(paged.count).toBe(3);
      expect(paged.items.map((item: { name: string }) => item.name)).toEqual([`${prefix}-b`]);
      // The Go SDK's RoleSearch sends name: null when empty; the Python SDK sends {}.
      const everything = (await testApp.app.inject({ method: 'POST', url: `${ROLES}/search`, headers: bearer(admin), payload: { name: null } })).json();
      expect(everything.count).toBe((await testApp.app.inject({ method: 'GET', url: ROLES, headers: bearer(admin) })).json().count);
      const wildcard = (await testApp.app.inject({ method: 'POST', url: `${ROLES}/search`, headers: bearer(admin), payload: { keywords: '%' } })).json();
      expect(wildcard.count).toBe(0);
    });

    it('members page by offset/limit/sortkey/sortdir with count the total; member_count follows', async () => {
      const roleId = ids.get(`${prefix}-a`)!;
      const clientIds: string[] = [];
      for (let index = 0; index < 3; index += 1) {
        const { credentials } = await tokenWith(testApp, []);
        clientIds.push(credentials.id);
        const added = await testApp.app.inject({ method: 'POST', url: `${ROLES}/${roleId}/members`, headers: bearer(admin), payload: { principal_id: credentials.id, principal_type: 'api-client' } });
        expect(added.statusCode, added.body).toBe(200);
      }
      const all = (await testApp.app.inject({ method: 'GET', url: `${ROLES}/${roleId}/members?sortkey=id`, headers: bearer(admin) })).json();
      expect(all.count).toBe(3);
      expect(all.items.map((item: { id: string }) => item.id)).toEqual([...clientIds].sort());
      expect(all.items[0]).toMatchObject({ type: 'api-client' });
      expect(all.items[0].principal).toBe(all.items[0].name);
      const page = (await testApp.app.inject({ method: 'GET', url: `${ROLES}/${roleId}/members?sortkey=id&sortdir=desc&offset=1&limit=1`, headers: bearer(admin) })).json();
      expect(page).toEqual({ count: 3, items: [all.items[1]] });
      expect(await read(roleId)).toMatchObject({ member_count: 3, explicit_count: 3 });
      const bad = await testApp.app.inject({ method: 'GET', url: `${ROLES}/${roleId}/members?sortkey=secret`, headers: bearer(admin) });
      expect(bad.statusCode).toBe(400);
    });
  });

  describe('principal keys', () => {
    /** Everything a client could have seen: responses are checked one by one; this is the audit log. */
    async function auditText(): Promise<string> {
      return JSON.stringify(await db().selectFrom('audit_events').select(['type', 'details']).execute());
    }

    function decodeOpenSsh(line: string): { type: string; fields: Buffer[] } {
      const [type, base64] = line.split(' ');
      const blob = Buffer.from(base64!, 'base64');
      const fields: Buffer[] = [];
      for (let offset = 0; offset < blob.length; ) {
        const length = blob.readUInt32BE(offset);
        fields.push(blob.subarray(offset + 4, offset + 4 + length));
        offset += 4 + length;
      }
      expect(fields[0]!.toString()).toBe(type);
      return { type: type!, fields };
    }

    it('generate → read → list → role shows it → delete; the private half is sealed and never returned', async () => {
      const roleId = await create(goMinimalRole(uniqueName('keys')));
      const generated = await testApp.app.inject({ method: 'POST', url: `${ROLES}/${roleId}/principalkeys/generate`, headers: bearer(admin) });
      expect(generated.statusCode, generated.body).toBe(201);
      const keyId = generated.json().id;
      expect(Object.keys(generated.json())).toEqual(['id']);

      const key = await testApp.app.inject({ method: 'GET', url: `${ROLES}/${roleId}/principalkeys/${keyId}`, headers: bearer(admin) });
      expect(key.statusCode).toBe(200);
      expect(Object.keys(key.json()).sort()).toEqual(['id', 'public_key']);
      const publicKey: string = key.json().public_key;
      expect(publicKey).toMatch(/^ssh-rsa AAAA[A-Za-z0-9+/]+=*$/);
      const { fields } = decodeOpenSsh(publicKey);
      expect(fields).toHaveLength(3);
      expect(fields[2]!.length).toBeGreaterThanOrEqual(256);

      const list = await testApp.app.inject({ method: 'GET', url: `${ROLES}/${roleId}/principalkeys`, headers: bearer(admin) });
      expect(list.json()).toEqual({ count: 1, items: [{ id: keyId, public_key: publicKey }] });
      const role = await read(roleId);
      expect(role.principal_public_key_strings).toEqual([publicKey]);

      // Sealed under the installation key, bound to its row; it opens to the key whose public half is served.
      const row = await db().selectFrom('role_principal_keys').selectAll().where('id', '=', keyId).executeTakeFirstOrThrow();
      expect(row.private_key_sealed).toMatch(/^pgk1\./);
      expect(row.private_key_sealed).not.toContain('PRIVATE KEY');
      const pem = testApp.app.context.installationKey.openText(row.private_key_sealed, principalKeySealContext(keyId));
      const jwk = crypto.createPublicKey(crypto.createPrivateKey(pem)).export({ format: 'jwk' });
      expect(Buffer.from(jwk.n!, 'base64url').equals(fields[2]!.subarray(fields[2]![0] === 0 ? 1 : 0))).toBe(true);
      expect(() => testApp.app.context.installationKey.openText(row.private_key_sealed, principalKeySealContext('another-row'))).toThrow();

      for (const body of [generated.body, key.body, list.body, JSON.stringify(role), await auditText()]) {
        expect(body).not.toContain('PRIVATE KEY');
        expect(body).not.toContain(row.private_key_sealed);
      }
      expect(await auditText()).toContain('role_principal_key_created');

      const deleted = await testApp.app.inject({ method: 'DELETE', url: `${ROLES}/${roleId}/principalkeys/${keyId}`, headers: bearer(admin) });
      expect(deleted.statusCode).toBe(200);
      const gone = await testApp.app.inject({ method: 'GET', url: `${ROLES}/${roleId}/principalkeys/${keyId}`, headers: bearer(admin) });
      expect(gone.statusCode).toBe(404);
      expect(envelope(gone).error_code).toContain('NOT_FOUND');
      expect((await read(roleId)).principal_public_key_strings).toEqual([]);
      expect(await db().selectFrom('role_principal_keys').selectAll().where('id', '=', keyId).execute()).toEqual([]);
    });

    it('imports RSA (PKCS#1 and PKCS#8) and Ed25519 private keys at /principalkeys/import and /principalkeys; serves their public halves', async () => {
      const roleId = await create(goMinimalRole(uniqueName('import')));
      const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const ed = crypto.generateKeyPairSync('ed25519');
      const cases = [
        { url: 'principalkeys/import', pem: rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), type: 'ssh-rsa' },
        { url: 'principalkeys', pem: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), type: 'ssh-ed25519' },
      ];
      for (const { url, pem, type } of cases) {
        const imported = await testApp.app.inject({ method: 'POST', url: `${ROLES}/${roleId}/${url}`, headers: bearer(admin), payload: { private_key: pem } });
        expect(imported.statusCode, imported.body).toBe(201);
        const key = (await testApp.app.inject({ method: 'GET', url: `${ROLES}/${roleId}/principalkeys/${imported.json().id}`, headers: bearer(admin) })).json();
        expect(key.public_key.startsWith(`${type} `)).toBe(true);
        expect(imported.body + JSON.stringify(key)).not.toContain('PRIVATE KEY');
      }
      const keys = (await testApp.app.inject({ method: 'GET', url: `${ROLES}/${roleId}/principalkeys`, headers: bearer(admin) })).json();
      const edKey = decodeOpenSsh(keys.items[1].public_key);
      expect(edKey.fields[1]!.equals(Buffer.from(ed.publicKey.export({ format: 'jwk' }).x!, 'base64url'))).toBe(true);
      const rsaKey = decodeOpenSsh(keys.items[0].public_key);
      const n = Buffer.from(rsa.publicKey.export({ format: 'jwk' }).n!, 'base64url');
      expect(rsaKey.fields[2]!.subarray(1).equals(n) || rsaKey.fields[2]!.equals(n)).toBe(true);
      const audit = await auditText();
      for (const { pem } of cases) expect(audit).not.toContain(pem.split('\n')[1]);
      // Nor in any log line.
      for (const { pem } of cases) expect(testApp.logs.join('\n')).not.toContain(pem.split('\n')[1]);
      expect(testApp.logs.join('\n')).not.toContain('PRIVATE KEY');
    });

    it('bad imports are 400 without quoting the key and store nothing: garbage, encrypted, RSA under 2048 bits, EC, OpenSSH format', async () => {
      const roleId = await create(goMinimalRole(uniqueName('bad-import')));
      const weak = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const encrypted = crypto.generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pass' }).toString();
      const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const openssh = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
      const before = await tableSnapshot();
      for (const privateKey of ['not a key', weak, encrypted, ec, openssh, '']) {
        const response = await testApp.app.inject({ method: 'POST', url: `${ROLES}/${roleId}/principalkeys/import`, headers: bearer(admin), payload: { private_key: privateKey } });
        expect(response.statusCode, response.body).toBe(400);
        expect(envelope(response).property).toBe('private_key');
        if (privateKey.length > 20) expect(response.body).not.toContain(privateKey.split('\n')[1]);
      }
      expect(await tableSnapshot()).toBe(before);
      expect(testApp.logs.join('\n')).not.toContain('PRIVATE KEY');
    });

    it('unknown role or key is 404; a holder of roles-manage without the role\'s permissions is 403; deleting the role drops its keys', async () => {
      const missing = crypto.randomUUID();
      expect((await testApp.app.inject({ method: 'POST', url: `${ROLES}/${missing}/principalkeys/generate`, headers: bearer(admin) })).statusCode).toBe(404);
      expect((await testApp.app.inject({ method: 'GET', url: `${ROLES}/${missing}/principalkeys`, headers: bearer(admin) })).statusCode).toBe(404);
      const roleId = await create({ ...goMinimalRole(uniqueName('guarded')), permissions: ['hosts-manage'] });
      expect((await testApp.app.inject({ method: 'GET', url: `${ROLES}/${roleId}/principalkeys/${missing}`, headers: bearer(admin) })).statusCode).toBe(404);
      expect((await testApp.app.inject({ method: 'DELETE', url: `${ROLES}/${roleId}/principalkeys/${missing}`, headers: bearer(admin) })).statusCode).toBe(404);
      const { token } = await tokenWith(testApp, ['roles-manage']);
      const refused = await testApp.app.inject({ method: 'POST', url: `${ROLES}/${roleId}/principalkeys/generate`, headers: bearer(token) });
      expect(refused.statusCode).toBe(403);
      expect(await db().selectFrom('role_principal_keys').selectAll().where('role_id', '=', roleId).execute()).toEqual([]);
      const keyId = (await testApp.app.inject({ method: 'POST', url: `${ROLES}/${roleId}/principalkeys/generate`, headers: bearer(admin) })).json().id;
      expect((await testApp.app.inject({ method: 'DELETE', url: `${ROLES}/${roleId}/principalkeys/${keyId}`, headers: bearer(token) })).statusCode).toBe(403);
      expect((await testApp.app.inject({ method: 'DELETE', url: `${ROLES}/${roleId}`, headers: bearer(admin) })).statusCode).toBe(200);
      expect(await db().selectFrom('role_principal_keys').selectAll().where('role_id', '=', roleId).execute()).toEqual([]);
    });
  });

  describe('contextual limits at token issue', () => {
    async function clientInRole(roleId: string): Promise<ClientCredentials> {
      const { credentials } = await tokenWith(testApp, []);
      const added = await testApp.app.inject({ method: 'POST', url: `${ROLES}/${roleId}/members`, headers: bearer(admin), payload: { principal_id: credentials.id, principal_type: 'api-client' } });
      expect(added.statusCode, added.body).toBe(200);
      return credentials;
    }

    async function tokenFrom(credentials: ClientCredentials, remoteAddress: string): Promise<string> {
      const response = await testApp.app.inject({ ...passwordGrantRequest(credentials), remoteAddress });
      expect(response.statusCode, response.body).toBe(200);
      return response.json().access_token;
    }

    const listUsers = (token: string) => testApp.app.inject({ method: 'GET', url: USERS, headers: bearer(token) });

    function limitedRole(context: object) {
      return { ...goMinimalRole(uniqueName('limited')), permissions: ['users-view'], context: { validity: [], start_time: '', end_time: '', timezone: '', ip_masks: [], ...context } };
    }

    it('a role limited to an address range applies only to tokens asked for from inside it', async () => {
      const roleId = await create(limitedRole({ enabled: true, ip_masks: ['203.0.113.0/24'] }));
      const credentials = await clientInRole(roleId);
      expect((await listUsers(await tokenFrom(credentials, '203.0.113.5'))).statusCode).toBe(200);
      const outside = await listUsers(await tokenFrom(credentials, '198.51.100.5'));
      expect(outside.statusCode).toBe(403);
      expect(envelope(outside).error_code).toBe('PERMISSION_DENIED');
    });

    it('a role limited to other weekdays does not apply now; allowing today makes it apply', async () => {
      const today = new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', weekday: 'short' }).format(testApp.app.context.clock.now()).toLowerCase();
      const otherDays = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'].filter((day) => day !== today);
      const roleId = await create(limitedRole({ enabled: true, validity: otherDays }));
      const credentials = await clientInRole(roleId);
      expect((await listUsers(await tokenFrom(credentials, '127.0.0.1'))).statusCode).toBe(403);
      const update = await testApp.app.inject({ method: 'PUT', url: `${ROLES}/${roleId}`, headers: bearer(admin), payload: { ...(await read(roleId)), context: { ...(await read(roleId)).context, validity: [today] } } });
      expect(update.statusCode, update.body).toBe(200);
      expect((await listUsers(await tokenFrom(credentials, '127.0.0.1'))).statusCode).toBe(200);
    });

    it('changing a role\'s limit revokes its members\' tokens; an unchanged limit does not', async () => {
      const roleId = await create(limitedRole({ enabled: false }));
      const credentials = await clientInRole(roleId);
      const token = await tokenFrom(credentials, '127.0.0.1');
      expect((await listUsers(token)).statusCode).toBe(200);
      const role = await read(roleId);
      const same = await testApp.app.inject({ method: 'PUT', url: `${ROLES}/${roleId}`, headers: bearer(admin), payload: { ...role, comment: 'only the comment' } });
      expect(same.statusCode).toBe(200);
      expect((await listUsers(token)).statusCode).toBe(200);
      const limited = await testApp.app.inject({ method: 'PUT', url: `${ROLES}/${roleId}`, headers: bearer(admin), payload: { ...role, context: { ...role.context, enabled: true, ip_masks: ['192.0.2.0/24'] } } });
      expect(limited.statusCode, limited.body).toBe(200);
      expect((await listUsers(token)).statusCode).toBe(401);
      const revocation = await db().selectFrom('token_revocations').select('key').where('key', '=', `sub:api-client:${credentials.id}`).executeTakeFirst();
      expect(revocation).toBeDefined();
      expect((await listUsers(await tokenFrom(credentials, '127.0.0.1'))).statusCode).toBe(403);
    });

    it('a refresh re-evaluates the limit with the refreshing client\'s address', async () => {
      const roleId = await create(limitedRole({ enabled: true, ip_masks: ['203.0.113.0/24'] }));
      const credentials = await clientInRole(roleId);
      const issued = await testApp.app.inject({ ...passwordGrantRequest(credentials), remoteAddress: '203.0.113.9' });
      const refreshed = await testApp.app.inject({
        method: 'POST',
        url: '/auth/api/v1/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: issued.json().refresh_token }).toString(),
        remoteAddress: '198.51.100.9',
      });
      expect(refreshed.statusCode, refreshed.body).toBe(200);
      expect((await listUsers(refreshed.json().access_token)).statusCode).toBe(403);
    });
  });
});
