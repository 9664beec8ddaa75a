import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROLE_ID } from '../../src/services/role-store/permissions.js';
import { createRole } from '../../src/services/role-store/repository.js';
import { bearer, createTestApp, envelope, passwordGrantRequest, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const BASE = '/local-user-store/api/v1/api-clients';

/** Every key of the Go SDK's userstore.APIClient, as GET answers it. */
const SDK_KEYS = ['id', 'secret', 'name', 'created', 'updated', 'updated_by', 'author', 'roles', 'oauth_client_id', 'oauth_client_secret'];

interface Created {
  id: string;
  secret: string;
  oauth_client_id: string;
  oauth_client_secret: string;
}

describe.each(testBackends())('API clients as the PrivX SDKs read them, on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  let adminId: string;
  /** Holds api-clients-manage and users-view. */
  let manager: string;
  let managerId: string;
  /** A role holding users-manage, which the manager lacks. */
  let usersManageRole: string;
  /** A role holding users-view, which the manager holds. */
  let usersViewRole: string;

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    const adminToken = await tokenWith(testApp, 'admin');
    admin = adminToken.token;
    adminId = adminToken.credentials.id;
    const managerToken = await tokenWith(testApp, ['api-clients-manage', 'users-view']);
    manager = managerToken.token;
    managerId = managerToken.credentials.id;
    const now = testApp.app.context.clock.now();
    usersManageRole = await createRole(db(), { name: 'shape-users-manage', permissions: ['users-manage'] }, 'test', now);
    usersViewRole = await createRole(db(), { name: 'shape-users-view', permissions: ['users-view'] }, 'test', now);
  });
  afterAll(async () => testApp?.close());

  const db = () => testApp.app.context.database.db;
  let counter = 0;
  const create = async (roles: Array<{ id: string }>, name = `shape-${(counter += 1)}`): Promise<Created> => {
    const response = await testApp.app.inject({ method: 'POST', url: BASE, headers: bearer(admin), payload: { name, roles } });
    expect(response.statusCode, response.body).toBe(201);
    return response.json() as Created;
  };
  const get = (id: string, token: string) => testApp.app.inject({ method: 'GET', url: `${BASE}/${id}`, headers: bearer(token) });
  const stored = (id: string) => db().selectFrom('api_clients').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  it('GET answers every field of the SDK struct, with the secrets of the create response for privx-admin', async () => {
    const created = await create([{ id: usersViewRole }]);
    const response = await get(created.id, admin);
    expect(response.statusCode).toBe(200);
    const client = response.json();
    expect(Object.keys(client).sort()).toEqual([...SDK_KEYS].sort());
    expect(client).toMatchObject({ id: created.id, secret: created.secret, oauth_client_id: created.oauth_client_id, oauth_client_secret: created.oauth_client_secret, author: adminId, updated_by: '' });
    expect(client.roles).toEqual([{ id: usersViewRole, name: 'shape-users-view' }]);
    expect(new Date(client.created).toISOString()).toBe(client.created);
  });

  it('secrets are stored sealed and hashed, never in the clear', async () => {
    const created = await create([]);
    const row = await stored(created.id);
    expect(row.secret_sealed).toMatch(/^pgk1\./);
    expect(row.oauth_client_secret_sealed).toMatch(/^pgk1\./);
    expect(JSON.stringify(row)).not.toContain(created.secret);
    expect(JSON.stringify(row)).not.toContain(created.oauth_client_secret);
  });

  it('a holder of api-clients-manage sees the secrets of a client whose permissions it holds', async () => {
    const created = await create([{ id: usersViewRole }]);
    const client = (await get(created.id, manager)).json();
    expect(client).toMatchObject({ secret: created.secret, oauth_client_secret: created.oauth_client_secret });
  });

  it('a holder of api-clients-manage lacking a permission of the client gets empty secrets (the rest as usual)', async () => {
    const created = await create([{ id: usersManageRole }]);
    const response = await get(created.id, manager);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ id: created.id, secret: '', oauth_client_secret: '', oauth_client_id: created.oauth_client_id });
  });

  it('the secrets of a privx-admin client show to privx-admin only', async () => {
    const everything = await tokenWith(testApp, ['api-clients-manage', 'users-manage', 'users-view', 'roles-manage', 'hosts-manage']);
    const created = await create([{ id: ADMIN_ROLE_ID }]);
    expect((await get(created.id, everything.token)).json()).toMatchObject({ secret: '', oauth_client_secret: '' });
    expect((await get(created.id, admin)).json()).toMatchObject({ secret: created.secret, oauth_client_secret: created.oauth_client_secret });
  });

  it('the list decides per client which secrets show', async () => {
    const visible = await create([{ id: usersViewRole }], 'list-visible');
    const hidden = await create([{ id: usersManageRole }], 'list-hidden');
    const response = await testApp.app.inject({ method: 'GET', url: `${BASE}?limit=1000`, headers: bearer(manager) });
    expect(response.statusCode).toBe(200);
    const items = response.json().items as Array<{ id: string; secret: string; oauth_client_secret: string }>;
    expect(items.find((item) => item.id === visible.id)).toMatchObject({ secret: visible.secret, oauth_client_secret: visible.oauth_client_secret });
    expect(items.find((item) => item.id === hidden.id)).toMatchObject({ secret: '', oauth_client_secret: '' });
  });

  it('a hash-only client from before sealing still authenticates and reads back empty secrets until rotated', async () => {
    const created = await create([{ id: usersViewRole }]);
    await db().updateTable('api_clients').set({ secret_sealed: null, oauth_client_secret_sealed: null }).where('id', '=', created.id).execute();

    const grant = await testApp.app.inject(passwordGrantRequest(created));
    expect(grant.statusCode).toBe(200);
    expect((await get(created.id, admin)).json()).toMatchObject({ secret: '', oauth_client_secret: '' });

    const rotated = await testApp.app.inject({ method: 'POST', url: `${BASE}/${created.id}/rotate-secret`, headers: bearer(admin) });
    expect(rotated.statusCode).toBe(200);
    const fresh = rotated.json() as Created;
    expect((await get(created.id, admin)).json()).toMatchObject({ secret: fresh.secret, oauth_client_secret: fresh.oauth_client_secret, updated_by: adminId });
    expect((await testApp.app.inject(passwordGrantRequest(fresh))).statusCode).toBe(200);
    expect((await testApp.app.inject(passwordGrantRequest(created))).statusCode).not.toBe(200);
  });

  it('a PUT of what GET answered (secrets, ids, timestamps included) changes the name, sets updated_by and keeps the secrets', async () => {
    const created = await create([{ id: usersViewRole }]);
    const before = (await get(created.id, manager)).json();
    const put = await testApp.app.inject({
      method: 'PUT',
      url: `${BASE}/${created.id}`,
      headers: bearer(manager),
      // A secret in the body is the client's echo, not a new secret: ignored.
      payload: { ...before, name: `${before.name}-renamed`, secret: 'not-the-secret', oauth_client_secret: 'nor-this' },
    });
    expect(put.statusCode, put.body).toBe(200);
    const after = (await get(created.id, manager)).json();
    expect(after).toEqual({ ...before, name: `${before.name}-renamed`, updated: after.updated, updated_by: managerId });
    expect((await testApp.app.inject(passwordGrantRequest(created))).statusCode).toBe(200);
  });

  it('POST /api-clients/search matches keywords in the name, case-insensitively, with paging in the body', async () => {
    await create([], 'Search-Alpha-One');
    await create([], 'search-alpha-two');
    await create([], 'search-beta');
    await create([], 'search-100%');
    const search = (body: unknown) => testApp.app.inject({ method: 'POST', url: `${BASE}/search`, headers: { ...bearer(admin), 'content-type': 'application/json' }, payload: JSON.stringify(body) });

    const alpha = await search({ keywords: 'ALPHA', sortkey: 'name', sortdir: 'desc' });
    expect(alpha.statusCode).toBe(200);
    expect(alpha.json().count).toBe(2);
    expect(alpha.json().items.map((item: { name: string }) => item.name)).toEqual(['search-alpha-two', 'Search-Alpha-One']);
    expect(Object.keys(alpha.json().items[0]).sort()).toEqual([...SDK_KEYS].sort());

    const paged = await search({ keywords: 'search-', limit: 1, offset: 1, sortkey: 'name', sortdir: 'asc' });
    expect(paged.json().count).toBe(4);
    expect(paged.json().items).toHaveLength(1);

    // `%` and `_` are literal characters, not wildcards.
    expect((await search({ keywords: '0%' })).json().items.map((item: { name: string }) => item.name)).toEqual(['search-100%']);
    expect((await search({ keywords: 'alpha_' })).json().count).toBe(0);
  });

  it('POST /api-clients/search with an empty body lists every client', async () => {
    const total = (await testApp.app.inject({ method: 'GET', url: BASE, headers: bearer(admin) })).json().count;
    const empty = await testApp.app.inject({ method: 'POST', url: `${BASE}/search`, headers: { ...bearer(admin), 'content-type': 'application/json' } });
    expect(empty.statusCode, empty.body).toBe(200);
    expect(empty.json().count).toBe(total);
  });

  it('the list honours offset, limit, sortkey and sortdir', async () => {
    const all = (await testApp.app.inject({ method: 'GET', url: `${BASE}?limit=1000&sortkey=name&sortdir=asc`, headers: bearer(admin) })).json();
    const names = all.items.map((item: { name: string }) => item.name);
    expect(names).toEqual([...names].sort((a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)));
    const page = (await testApp.app.inject({ method: 'GET', url: `${BASE}?offset=1&limit=2&sortkey=name&sortdir=asc`, headers: bearer(admin) })).json();
    expect(page.count).toBe(all.count);
    expect(page.items.map((item: { name: string }) => item.name)).toEqual(names.slice(1, 3));
    const newest = (await testApp.app.inject({ method: 'GET', url: `${BASE}?limit=1&sortkey=created&sortdir=desc`, headers: bearer(admin) })).json();
    const latest = [...all.items].sort((a: { created: string }, b: { created: string }) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0))[0];
    expect(newest.items[0].created).toBe(latest.created);
  });

  it('bad input → 400 envelope and nothing changes', async () => {
    const count = async () => (await db().selectFrom('api_clients').select('id').execute()).length;
    const before = await count();
    for (const payload of [{}, { name: '' }, { name: 'x', roles: 'admin' }, { name: 'x', secret: 42 }, { name: 'x', roles: [{ id: 'no-such-role' }] }]) {
      const response = await testApp.app.inject({ method: 'POST', url: BASE, headers: bearer(admin), payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      envelope(response);
    }
    const badQuery = await testApp.app.inject({ method: 'GET', url: `${BASE}?sortkey=secret`, headers: bearer(admin) });
    expect(badQuery.statusCode).toBe(400);
    expect(envelope(badQuery).error_code).toBeTruthy();
    const badSearch = await testApp.app.inject({ method: 'POST', url: `${BASE}/search`, headers: bearer(admin), payload: { keywords: 'x', surprise: true } });
    expect(badSearch.statusCode).toBe(400);
    expect(await count()).toBe(before);
  });
});
