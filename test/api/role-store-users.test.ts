import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectFor } from '../../src/services/auth/subjects.js';
import { ADMIN_ROLE_ID, USER_ROLE_ID } from '../../src/services/role-store/permissions.js';
import { PERMISSIONS } from '../../src/access.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const LOCAL_USERS = '/local-user-store/api/v1/users';
const USERS = '/role-store/api/v1/users';
const ROLES = '/role-store/api/v1/roles';

describe.each(testBackends())('role-store users on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
  });
  afterAll(async () => testApp?.close());

  const db = () => testApp.app.context.database.db;
  const inject = (method: InjectOptions['method'], url: string, payload?: unknown, token = admin) =>
    testApp.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as object }) });

  async function user(username: string, extra: Record<string, unknown> = {}): Promise<string> {
    const response = await inject('POST', LOCAL_USERS, { username, ...extra });
    expect(response.statusCode, response.body).toBe(201);
    return response.json().id;
  }
  async function role(permissions: string[]): Promise<{ id: string; name: string }> {
    const name = `role-${Math.random().toString(36).slice(2)}`;
    const response = await inject('POST', ROLES, { name, permissions });
    expect(response.statusCode, response.body).toBe(201);
    return { id: response.json().id, name };
  }
  const memberships = async (id: string) =>
    (await db().selectFrom('role_members').select('role_id').where('principal_type', '=', 'user').where('principal_id', '=', id).orderBy('role_id').execute()).map((row) => row.role_id);
  const revoked = async (id: string) => (await db().selectFrom('token_revocations').select('key').where('key', '=', `sub:user:${id}`).executeTakeFirst()) !== undefined;

  it('PUT /users/{id}/roles with whole Go Role objects replaces the roles; GET lists them as explicit', async () => {
    const id = await user('roles-put', { roles: [{ id: USER_ROLE_ID }] });
    const viewers = await role(['users-view', 'hosts-view']);
    // What the Go SDK's []rolestore.Role marshals: every key, zero values included.
    const goRole = { id: viewers.id, name: viewers.name, explicit: false, implicit: false, system: false, permissions: null, access_group_id: '', owner_src: '', source_rules: { rules: null }, context: { enabled: false, validity: null, start_time: '', end_time: '', timezone: '', ip_masks: null } };
    const put = await inject('PUT', `${USERS}/${id}/roles`, [goRole]);
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toEqual({});
    expect(await memberships(id)).toEqual([viewers.id]);
    const get = await inject('GET', `${USERS}/${id}/roles`);
    expect(get.statusCode).toBe(200);
    expect(get.json()).toEqual({ count: 1, items: [{ id: viewers.id, name: viewers.name, comment: '', permissions: ['users-view', 'hosts-view'], system: false, explicit: true, implicit: false }] });
    // The local user store shows the same roles.
    expect((await inject('GET', `${LOCAL_USERS}/${id}`)).json().roles).toEqual([{ id: viewers.id, name: viewers.name }]);
  });

  it('PUT with [] or null removes every role and revokes the user’s tokens', async () => {
    const viewers = await role(['users-view']);
    const id = await user('roles-removed', { roles: [{ id: viewers.id }] });
    await db().deleteFrom('token_revocations').where('key', '=', `sub:user:${id}`).execute();
    expect((await inject('PUT', `${USERS}/${id}/roles`, [])).statusCode).toBe(200);
    expect(await memberships(id)).toEqual([]);
    expect(await revoked(id)).toBe(true);
    const again = await testApp.app.inject({ method: 'PUT', url: `${USERS}/${id}/roles`, headers: { ...bearer(admin), 'content-type': 'application/json' }, payload: 'null' });
    expect(again.statusCode, again.body).toBe(200);
    expect((await inject('GET', `${USERS}/${id}/roles`)).json()).toEqual({ count: 0, items: [] });
  });

  it('PUT of the same roles changes nothing: no audit event, no revocation', async () => {
    const viewers = await role(['users-view']);
    const id = await user('roles-same', { roles: [{ id: viewers.id }] });
    await db().deleteFrom('token_revocations').where('key', '=', `sub:user:${id}`).execute();
    const events = async () => (await db().selectFrom('audit_events').select('id').where('type', '=', 'user_roles_set').execute()).length;
    const before = await events();
    expect((await inject('PUT', `${USERS}/${id}/roles`, [{ id: viewers.id, name: viewers.name }])).statusCode).toBe(200);
    expect(await events()).toBe(before);
    expect(await revoked(id)).toBe(false);
  });

  it('a change is audited and records updated_by on the user', async () => {
    const viewers = await role(['users-view']);
    const id = await user('roles-audited');
    expect((await inject('PUT', `${USERS}/${id}/roles`, [{ id: viewers.id }])).statusCode).toBe(200);
    const event = await db().selectFrom('audit_events').selectAll().where('type', '=', 'user_roles_set').where('object_id', '=', id).executeTakeFirstOrThrow();
    expect(event.outcome).toBe('success');
    expect((await inject('GET', `${LOCAL_USERS}/${id}`)).json().updated_by).not.toBe('');
  });

  it('the grant rule: granting a role with a permission the caller lacks is 403 and changes nothing', async () => {
    const { token } = await tokenWith(testApp, ['users-manage']);
    const hosts = await role(['hosts-manage']);
    const id = await user('roles-grant-refused');
    for (const body of [[{ id: hosts.id }], [{ id: ADMIN_ROLE_ID }]]) {
      const response = await inject('PUT', `${USERS}/${id}/roles`, body, token);
      expect(response.statusCode, response.body).toBe(403);
      expect(envelope(response)).toMatchObject({ error_code: 'PERMISSION_DENIED', property: 'roles[0].id' });
    }
    expect(await memberships(id)).toEqual([]);
    // Nor may it strip roles from a user who holds more than the caller.
    const strong = await user('roles-strong', { roles: [{ id: hosts.id }] });
    const strip = await inject('PUT', `${USERS}/${strong}/roles`, [], token);
    expect(strip.statusCode).toBe(403);
    expect(await memberships(strong)).toEqual([hosts.id]);
  });

  it('the grant rule allows what the caller holds', async () => {
    const { token } = await tokenWith(testApp, ['users-manage', 'users-view']);
    const viewers = await role(['users-view']);
    const id = await user('roles-grant-allowed');
    const response = await inject('PUT', `${USERS}/${id}/roles`, [{ id: viewers.id }, { id: USER_ROLE_ID }], token);
    expect(response.statusCode, response.body).toBe(200);
    expect(await memberships(id)).toEqual([viewers.id, USER_ROLE_ID].sort());
  });

  it('removing privx-admin from the last enabled holder is 409', async () => {
    const adminId = (await db().selectFrom('users').select('id').where('builtin', '=', 1).executeTakeFirstOrThrow()).id;
    // API clients hold privx-admin too in this test app; take them out of the count.
    const clients = await db().selectFrom('role_members').selectAll().where('role_id', '=', ADMIN_ROLE_ID).where('principal_type', '=', 'api-client').execute();
    await db().deleteFrom('role_members').where('role_id', '=', ADMIN_ROLE_ID).where('principal_type', '=', 'api-client').execute();
    try {
      const userToken = (await testApp.app.tokens.signAccessToken(await subjectFor(db(), 'user', adminId, 'admin'), 'test')).token;
      const response = await inject('PUT', `${USERS}/${adminId}/roles`, [{ id: USER_ROLE_ID }], userToken);
      expect(response.statusCode, response.body).toBe(409);
      expect(await memberships(adminId)).toEqual([ADMIN_ROLE_ID]);
    } finally {
      if (clients.length > 0) await db().insertInto('role_members').values(clients).execute();
    }
  });

  it('bad input: unknown role 400 (nothing changed), unknown user 404, a body that is not an array 400', async () => {
    const viewers = await role(['users-view']);
    const id = await user('roles-bad-input', { roles: [{ id: viewers.id }] });
    const unknown = await inject('PUT', `${USERS}/${id}/roles`, [{ id: viewers.id }, { id: 'no-such-role' }]);
    expect(unknown.statusCode).toBe(400);
    expect(envelope(unknown).property).toContain('[1].id');
    expect(await memberships(id)).toEqual([viewers.id]);
    const notArray = await inject('PUT', `${USERS}/${id}/roles`, { id: viewers.id });
    expect(notArray.statusCode).toBe(400);
    const noId = await inject('PUT', `${USERS}/${id}/roles`, [{ name: 'x' }]);
    expect(noId.statusCode).toBe(400);
    for (const [method, url, body] of [
      ['PUT', `${USERS}/no-such-user/roles`, []],
      ['GET', `${USERS}/no-such-user/roles`, undefined],
      ['GET', `${USERS}/no-such-user`, undefined],
      ['GET', `${USERS}/no-such-user/resolve`, undefined],
    ] as const) {
      const response = await inject(method, url, body);
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(envelope(response).error_code).toContain('NOT_FOUND');
    }
  });

  it('GET /users/{id} answers the SDK’s rolestore.User: principal, roles, effective permissions, profile', async () => {
    const viewers = await role(['users-view', 'hosts-view']);
    const id = await user('rs-user', { full_name: 'Role Store', first_name: 'Role', email: 'rs@example.com', tags: ['t1'], attributes: [{ key: 'k', value: 'v' }], roles: [{ id: viewers.id }, { id: USER_ROLE_ID }] });
    const response = await inject('GET', `${USERS}/${id}`);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ id, principal: 'rs-user', source: 'local', full_name: 'Role Store', first_name: 'Role', email: 'rs@example.com', tags: ['t1'], attributes: [{ key: 'k', value: 'v' }] });
    expect(body.permissions).toEqual(['hosts-view', 'users-view']);
    expect(body.roles.map((entry: { id: string }) => entry.id).sort()).toEqual([viewers.id, USER_ROLE_ID].sort());
    expect(body).not.toHaveProperty('password');
    // ResolveUserRoles answers the same user.
    const resolved = await inject('GET', `${USERS}/${id}/resolve`);
    expect(resolved.statusCode).toBe(200);
    expect(resolved.json()).toEqual(body);
    const adminId = (await db().selectFrom('users').select('id').where('builtin', '=', 1).executeTakeFirstOrThrow()).id;
    expect((await inject('GET', `${USERS}/${adminId}`)).json().permissions).toEqual([...PERMISSIONS]);
  });

  it('POST /users/search: keywords, user_id and source narrow; count is of the matches; paging applies', async () => {
    const a = await user('search-alpha', { full_name: 'Ann Quuxample', email: 'ann@corp.quuxample' });
    const b = await user('search-beta', { full_name: 'Bob Quuxample' });
    await user('search-gamma_x', { full_name: 'Cy' });
    const search = async (body: unknown, query = '') => {
      const response = await inject('POST', `${USERS}/search${query}`, body);
      expect(response.statusCode, response.body).toBe(200);
      return response.json() as { count: number; items: Array<{ id: string; principal: string }> };
    };
    expect((await search({ keywords: 'quuxample' })).items.map((entry) => entry.principal)).toEqual(['search-alpha', 'search-beta']);
    expect((await search({ keywords: 'QUUXAMPLE, ann' })).items.map((entry) => entry.id)).toEqual([a]);
    expect((await search({ keywords: 'corp.quuxample' })).items.map((entry) => entry.id)).toEqual([a]);
    // LIKE wildcards are literal.
    expect((await search({ keywords: 'a_' })).items.map((entry) => entry.principal)).toEqual(['search-gamma_x']);
    expect((await search({ keywords: '%' })).count).toBe(0);
    expect((await search({ user_id: [b] })).items.map((entry) => entry.id)).toEqual([b]);
    expect((await search({ keywords: 'search', source: 'some-ldap' })).count).toBe(0);
    const paged = await search({ keywords: 'search' }, '?offset=1&limit=1&sortdir=desc');
    expect(paged.count).toBe(3);
    expect(paged.items.map((entry) => entry.principal)).toEqual(['search-beta']);
    expect((await search({})).count).toBeGreaterThanOrEqual(4);
    const tooMany = await inject('POST', `${USERS}/search`, { keywords: Array.from({ length: 21 }, (_, index) => `k${index}`).join(' ') });
    expect(tooMany.statusCode).toBe(400);
    expect(envelope(tooMany).property).toBe('keywords');
  });

  it('permissions: no token 401, a token without users-view 403', async () => {
    const id = await user('rs-perms');
    expect((await testApp.app.inject({ method: 'GET', url: `${USERS}/${id}` })).statusCode).toBe(401);
    const { token } = await tokenWith(testApp, ['hosts-view']);
    expect((await inject('GET', `${USERS}/${id}`, undefined, token)).statusCode).toBe(403);
    expect((await inject('POST', `${USERS}/search`, {}, token)).statusCode).toBe(403);
    expect((await inject('PUT', `${USERS}/${id}/roles`, [], token)).statusCode).toBe(403);
  });
});
