import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/lib/secrets.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const USERS = '/local-user-store/api/v1/users';

/** What the Go SDK's userstore.LocalUser marshals for a Terraform privx_local_user (every key, zero values included). */
function goLocalUser(username: string, change: Record<string, unknown> = {}) {
  return {
    username,
    full_name: 'Go User',
    email: `${username}@example.com`,
    first_name: 'Go',
    last_name: 'User',
    job_title: 'Tester',
    company: 'Example',
    department: 'QA',
    telephone: '+358 40 000 0000',
    locale: 'en',
    unix_account: 'gouser',
    windows_account: 'GOUSER',
    display_name: 'Go U.',
    comment: 'made by\nthe Go SDK',
    tags: ['sdk', 'go'],
    password: { password: 'Initial-Passw0rd!' },
    password_change_required: false,
    attributes: null,
    ...change,
  };
}

const PROFILE_KEYS = [
  'username',
  'full_name',
  'email',
  'first_name',
  'last_name',
  'job_title',
  'company',
  'department',
  'telephone',
  'locale',
  'unix_account',
  'windows_account',
  'display_name',
  'comment',
  'tags',
  'password_change_required',
] as const;

function pick(object: Record<string, unknown>, keys: readonly string[]) {
  return Object.fromEntries(keys.map((key) => [key, object[key]]));
}

describe.each(testBackends())('local users in PrivX LocalUser shape on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
  });
  afterAll(async () => testApp?.close());

  const db = () => testApp.app.context.database.db;
  const inject = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
    testApp.app.inject({ method, url, headers: bearer(admin), ...(payload === undefined ? {} : { payload: payload as object }) });
  async function create(body: Record<string, unknown>): Promise<string> {
    const response = await inject('POST', USERS, body);
    expect(response.statusCode, response.body).toBe(201);
    expect(Object.keys(response.json())).toEqual(['id']);
    return response.json().id;
  }
  const read = async (id: string) => {
    const response = await inject('GET', `${USERS}/${id}`);
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Record<string, unknown>;
  };

  it('POST takes the whole Go LocalUser struct and GET returns every field as written', async () => {
    const body = goLocalUser('go-shape');
    const id = await create(body);
    const user = await read(id);
    expect(pick(user, PROFILE_KEYS)).toEqual(pick(body, PROFILE_KEYS));
    expect(user).toMatchObject({ id, attributes: [], disabled: false, builtin: false, roles: [], updated_by: '', author: expect.any(String) });
    for (const key of ['created', 'updated'] as const) expect(new Date(user[key] as string).toISOString()).toBe(user[key]);
    const row = await db().selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.telephone).toBe('+358 40 000 0000');
    expect(JSON.parse(row.tags)).toEqual(['sdk', 'go']);
  });

  it('the password is write-only: GET answers only {created}, the hash is scrypt and the password logs in', async () => {
    const id = await create(goLocalUser('pw-write-only'));
    const user = await read(id);
    expect(user.password).toEqual({ created: expect.any(String) });
    const raw = JSON.stringify(user);
    expect(raw).not.toContain('Initial-Passw0rd!');
    expect(raw).not.toContain('scrypt');
    const row = await db().selectFrom('users').select(['password_hash', 'password_created']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(await verifyPassword('Initial-Passw0rd!', row.password_hash ?? '')).toBe(true);
    expect(row.password_created).toBe((user.password as { created: string }).created);
    const list = await inject('GET', `${USERS}?username=pw-write-only`);
    expect(list.body).not.toContain('Initial-Passw0rd!');
  });

  it('a user created without a password reads back password {} and has no hash', async () => {
    const id = await create({ username: 'no-password', password: {} });
    expect((await read(id)).password).toEqual({});
    const row = await db().selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.password_hash).toBeNull();
  });

  it('attributes round-trip as an array of {key, value}, in order', async () => {
    const attributes = [
      { key: 'cost-center', value: '1234' },
      { key: 'badge', value: '' },
      { key: 'cost-center', value: 'again' },
    ];
    const id = await create({ username: 'with-attributes', attributes });
    expect((await read(id)).attributes).toEqual(attributes);
    expect((await inject('PUT', `${USERS}/${id}`, { username: 'with-attributes', attributes: [{ key: 'k', value: 'v' }] })).statusCode).toBe(200);
    expect((await read(id)).attributes).toEqual([{ key: 'k', value: 'v' }]);
  });

  it('a PUT echoing what GET returned (id, created, updated, author, builtin, password.created, roles, …) is accepted and changes nothing else', async () => {
    const id = await create(goLocalUser('echo-put'));
    const before = await read(id);
    const put = await inject('PUT', `${USERS}/${id}`, { ...before, id: 'not-this-id', created: '2001-01-01T00:00:00Z', author: 'someone', builtin: true, updated_by: 'x' });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toEqual({});
    const after = await read(id);
    expect({ ...after, updated: undefined, updated_by: undefined }).toEqual({ ...before, updated: undefined, updated_by: undefined });
    expect(after.updated_by).not.toBe('');
    // The password did not change: the echoed {created} is not a password.
    expect(after.password).toEqual(before.password);
  });

  it('PUT replaces the profile: a field the Go SDK leaves out (omitempty) is cleared; disabled and roles stay', async () => {
    const id = await create({ ...goLocalUser('replace-put'), disabled: true, roles: [{ id: '00000000-0000-4000-8000-000000000002' }] });
    const put = await inject('PUT', `${USERS}/${id}`, { id, username: 'replace-put', full_name: 'Only Name', password: {}, password_change_required: true, attributes: null });
    expect(put.statusCode, put.body).toBe(200);
    const after = await read(id);
    expect(after).toMatchObject({ full_name: 'Only Name', email: '', company: '', tags: [], password_change_required: true, disabled: true, roles: [{ id: '00000000-0000-4000-8000-000000000002', name: 'privx-user' }] });
  });

  it('a PUT with password.password sets the password and revokes the user’s tokens', async () => {
    const id = await create(goLocalUser('put-password'));
    const created = (await read(id)).password as { created: string };
    const put = await inject('PUT', `${USERS}/${id}`, { username: 'put-password', password: { password: 'Replaced-Passw0rd!' } });
    expect(put.statusCode, put.body).toBe(200);
    const row = await db().selectFrom('users').select(['password_hash', 'password_created']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(await verifyPassword('Replaced-Passw0rd!', row.password_hash ?? '')).toBe(true);
    expect(row.password_created! >= created.created).toBe(true);
    expect(await db().selectFrom('token_revocations').select('key').where('key', '=', `sub:user:${id}`).executeTakeFirst()).toBeDefined();
  });

  it('PUT /users/{id}/password moves password.created', async () => {
    const id = await create({ username: 'pw-endpoint' });
    expect((await read(id)).password).toEqual({});
    expect((await inject('PUT', `${USERS}/${id}/password`, { password: 'Endpoint-Passw0rd!' })).statusCode).toBe(200);
    expect((await read(id)).password).toEqual({ created: expect.any(String) });
  });

  it('unknown properties are accepted and ignored, not stored', async () => {
    const id = await create({ username: 'unknown-keys', mfa: { status: 'x' }, source: 'local' });
    const user = await read(id);
    expect(user).not.toHaveProperty('mfa');
    expect(user).not.toHaveProperty('source');
  });

  it('GET ?username= returns only that user, with count of the filtered list', async () => {
    await create({ username: 'filter-a' });
    const b = await create({ username: 'filter-b' });
    const response = await inject('GET', `${USERS}?username=filter-b`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ count: 1, items: [{ id: b, username: 'filter-b' }] });
    const none = await inject('GET', `${USERS}?username=filter`);
    expect(none.json()).toEqual({ count: 0, items: [] });
  });

  it('GET ?id= (the Python SDK’s user_id) returns only that user', async () => {
    const id = await create({ username: 'filter-by-id' });
    expect((await inject('GET', `${USERS}?id=${id}`)).json()).toMatchObject({ count: 1, items: [{ id }] });
    expect((await inject('GET', `${USERS}?id=${id}&username=someone-else`)).json()).toEqual({ count: 0, items: [] });
  });

  it('GET honours offset, limit, sortkey and sortdir; count stays the total', async () => {
    const all = (await inject('GET', `${USERS}?limit=1000`)).json() as { count: number; items: Array<{ username: string }> };
    const names = all.items.map((user) => user.username);
    expect(names).toEqual([...names].sort());
    const page = (await inject('GET', `${USERS}?offset=1&limit=2&sortdir=DESC`)).json() as { count: number; items: Array<{ username: string }> };
    expect(page.count).toBe(all.count);
    expect(page.items.map((user) => user.username)).toEqual([...names].reverse().slice(1, 3));
    const byCreated = (await inject('GET', `${USERS}?sortkey=created&limit=1000`)).json() as { items: Array<{ created: string }> };
    const created = byCreated.items.map((user) => user.created);
    expect(created).toEqual([...created].sort());
  });

  it('GET /users/tags lists the distinct tags, filtered by query and paged', async () => {
    await create({ username: 'tagged-1', tags: ['zeta-tag', 'shared-tag'] });
    await create({ username: 'tagged-2', tags: ['shared-tag', 'ZETA-other'] });
    const all = (await inject('GET', `${USERS}/tags?limit=1000`)).json() as { count: number; items: string[] };
    expect(all.items).toEqual([...new Set(all.items)].sort());
    expect(all.items).toEqual(expect.arrayContaining(['zeta-tag', 'shared-tag', 'ZETA-other']));
    expect((await inject('GET', `${USERS}/tags?query=zeta`)).json()).toEqual({ count: 2, items: ['ZETA-other', 'zeta-tag'] });
    expect((await inject('GET', `${USERS}/tags?query=zeta&offset=1&limit=1&sortdir=desc`)).json()).toEqual({ count: 2, items: ['ZETA-other'] });
  });

  it('bad input is a 400 envelope naming the property, and changes nothing', async () => {
    const id = await create({ username: 'bad-input' });
    const before = await read(id);
    for (const [payload, property] of [
      [{ username: 'bad-input', tags: 'not-an-array' }, 'tags'],
      [{ username: 'bad-input', attributes: [{ value: 'no key' }] }, 'attributes/0/key'],
      [{ username: 'bad-input', password: { password: 'short' } }, 'password'],
      [{ username: 'bad-input', password_change_required: 'yes' }, 'password_change_required'],
      [{ username: 'bad-input', telephone: 'a\u0007b' }, 'telephone'],
      [{ full_name: 'no username' }, 'username'],
    ] as const) {
      const response = await inject('PUT', `${USERS}/${id}`, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(envelope(response).property ?? '', JSON.stringify(payload)).toContain(property.split('/')[0]);
    }
    expect(await read(id)).toEqual(before);
    expect((await inject('GET', `${USERS}?sortkey=password_hash`)).statusCode).toBe(400);
  });

  it('an unknown user is a 404 with a NOT_FOUND code', async () => {
    const response = await inject('PUT', `${USERS}/00000000-0000-4000-8000-00000000dead`, { username: 'ghost' });
    expect(response.statusCode).toBe(404);
    expect(envelope(response).error_code).toContain('NOT_FOUND');
  });
});
