import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROLE_ID } from '../../src/services/role-store/permissions.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

describe.each(testBackends())('permission guard and identity objects on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
  });
  afterAll(async () => testApp?.close());

  it('no token is 401, a token without roles-view is 403 PERMISSION_DENIED, roles-view is 200', async () => {
    const none = await testApp.app.inject({ method: 'GET', url: '/role-store/api/v1/roles' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const noRole = (await tokenWith(testApp, [])).token;
    const forbidden = await testApp.app.inject({ method: 'GET', url: '/role-store/api/v1/roles', headers: bearer(noRole) });
    expect(forbidden.statusCode).toBe(403);
    expect(envelope(forbidden).error_code).toBe('PERMISSION_DENIED');
    const viewer = (await tokenWith(testApp, ['roles-view'])).token;
    expect((await testApp.app.inject({ method: 'GET', url: '/role-store/api/v1/roles', headers: bearer(viewer) })).statusCode).toBe(200);
    expect((await testApp.app.inject({ method: 'POST', url: '/role-store/api/v1/roles', headers: bearer(viewer), payload: { name: 'x', permissions: [] } })).statusCode).toBe(403);
  });

  it('a 403 PERMISSION_DENIED from the guard names the permissions the route needs, and nothing else', async () => {
    const noRole = (await tokenWith(testApp, [])).token;
    const roles = await testApp.app.inject({ method: 'GET', url: '/role-store/api/v1/roles', headers: bearer(noRole) });
    expect(roles.statusCode).toBe(403);
    expect(envelope(roles)).toEqual({ error_code: 'PERMISSION_DENIED', error_message: 'needs one of the permissions: roles-view, roles-manage' });
    const usersManager = (await tokenWith(testApp, ['users-view'])).token;
    const create = await testApp.app.inject({ method: 'POST', url: '/local-user-store/api/v1/users', headers: bearer(usersManager), payload: { username: 'nobody' } });
    expect(envelope(create)).toEqual({ error_code: 'PERMISSION_DENIED', error_message: 'needs one of the permissions: users-manage' });
    const settings = await testApp.app.inject({ method: 'GET', url: '/host-store/api/v1/settings/default_service_options', headers: bearer(noRole) });
    expect(settings.statusCode).toBe(403);
    expect(envelope(settings).error_message).toBe('needs one of the permissions: privx-admin, hosts-manage, service (a registered trusted client)');
  });

  it('a role with an unknown permission is 400 naming it, and nothing is created', async () => {
    const response = await testApp.app.inject({ method: 'POST', url: '/role-store/api/v1/roles', headers: bearer(admin), payload: { name: 'bad-role', permissions: ['hosts-view', 'fly'] } });
    expect(response.statusCode).toBe(400);
    expect(envelope(response)).toMatchObject({ error_code: 'INVALID_REQUEST_DATA', property: 'permissions[1]' });
    const row = await testApp.app.context.database.db.selectFrom('roles').select('id').where('name', '=', 'bad-role').executeTakeFirst();
    expect(row).toBeUndefined();
  });

  it('a duplicate role name or username is 409 VALUE_DUPLICATE', async () => {
    const first = await testApp.app.inject({ method: 'POST', url: '/role-store/api/v1/roles', headers: bearer(admin), payload: { name: 'dup', permissions: null } });
    expect(first.statusCode).toBe(201);
    const again = await testApp.app.inject({ method: 'POST', url: '/role-store/api/v1/roles', headers: bearer(admin), payload: { name: 'dup', permissions: [] } });
    expect(again.statusCode).toBe(409);
    expect(envelope(again)).toMatchObject({ error_code: 'VALUE_DUPLICATE', property: 'name' });
    const user = await testApp.app.inject({ method: 'POST', url: '/local-user-store/api/v1/users', headers: bearer(admin), payload: { username: 'admin' } });
    expect(user.statusCode).toBe(409);
    expect(envelope(user)).toMatchObject({ error_code: 'VALUE_DUPLICATE', property: 'username' });
  });

  it('privx-admin cannot be deleted or emptied; its built-in permissions stay', async () => {
    const del = await testApp.app.inject({ method: 'DELETE', url: `/role-store/api/v1/roles/${ADMIN_ROLE_ID}`, headers: bearer(admin) });
    expect(del.statusCode).toBe(400);
    envelope(del);
    const empty = await testApp.app.inject({ method: 'PUT', url: `/role-store/api/v1/roles/${ADMIN_ROLE_ID}`, headers: bearer(admin), payload: { name: 'privx-admin', permissions: [] } });
    expect(empty.statusCode).toBe(400);
    const role = await testApp.app.inject({ method: 'GET', url: `/role-store/api/v1/roles/${encodeURIComponent(ADMIN_ROLE_ID)}`, headers: bearer(admin) });
    expect(role.json().permissions.length).toBeGreaterThan(10);
  });

  it('an unknown role id is 404 OBJECT_NOT_FOUND', async () => {
    const response = await testApp.app.inject({ method: 'GET', url: '/role-store/api/v1/roles/no-such-role', headers: bearer(admin) });
    expect(response.statusCode).toBe(404);
    expect(envelope(response).error_code).toContain('NOT_FOUND');
  });

  it('users: create with a password (stored as scrypt), read without it, update, list and delete', async () => {
    const create = await testApp.app.inject({
      method: 'POST',
      url: '/local-user-store/api/v1/users',
      headers: bearer(admin),
      payload: { username: 'alice', email: 'alice@example.com', full_name: 'Alice', password: 'a long enough password', roles: [{ id: ADMIN_ROLE_ID, name: 'privx-admin' }] },
    });
    expect(create.statusCode).toBe(201);
    const { id } = create.json();
    const row = await testApp.app.context.database.db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^scrypt\$/);
    const get = await testApp.app.inject({ method: 'GET', url: `/local-user-store/api/v1/users/${id}`, headers: bearer(admin) });
    expect(get.json()).toMatchObject({ id, username: 'alice', email: 'alice@example.com', disabled: false, roles: [{ id: ADMIN_ROLE_ID, name: 'privx-admin' }] });
    // Write-only: only when the password was set is read back, never the password or its hash.
    expect(get.json().password).toEqual({ created: expect.any(String) });
    expect(get.body).not.toContain('scrypt');
    expect(get.body).not.toContain('a long enough password');
    const update = await testApp.app.inject({ method: 'PUT', url: `/local-user-store/api/v1/users/${id}`, headers: bearer(admin), payload: { username: 'alice', full_name: 'Alice A.', roles: null } });
    expect(update.statusCode).toBe(200);
    const list = await testApp.app.inject({ method: 'GET', url: '/local-user-store/api/v1/users?limit=10', headers: bearer(admin) });
    expect(list.json().items.map((user: { username: string }) => user.username)).toContain('alice');
    expect((await testApp.app.inject({ method: 'DELETE', url: `/local-user-store/api/v1/users/${id}`, headers: bearer(admin) })).statusCode).toBe(200);
    expect((await testApp.app.inject({ method: 'GET', url: `/local-user-store/api/v1/users/${id}`, headers: bearer(admin) })).statusCode).toBe(404);
  });

  it('API clients: a listing shows a privx-admin client’s secrets to privx-admin only; rotation replaces them', async () => {
    const create = await testApp.app.inject({ method: 'POST', url: '/local-user-store/api/v1/api-clients', headers: bearer(admin), payload: { name: 'terraform', roles: [{ id: ADMIN_ROLE_ID, name: 'privx-admin' }] } });
    expect(create.statusCode).toBe(201);
    const credentials = create.json();
    const manager = (await tokenWith(testApp, ['api-clients-manage'])).token;
    const list = await testApp.app.inject({ method: 'GET', url: '/local-user-store/api/v1/api-clients', headers: bearer(manager) });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(credentials.secret);
    expect(list.body).not.toContain(credentials.oauth_client_secret);
    const asAdmin = await testApp.app.inject({ method: 'GET', url: '/local-user-store/api/v1/api-clients', headers: bearer(admin) });
    expect(asAdmin.json().items.find((item: { id: string }) => item.id === credentials.id)).toMatchObject({ secret: credentials.secret, oauth_client_secret: credentials.oauth_client_secret });
    const rotate = await testApp.app.inject({ method: 'POST', url: `/local-user-store/api/v1/api-clients/${credentials.id}/rotate-secret`, headers: bearer(admin) });
    expect(rotate.statusCode).toBe(200);
    expect(rotate.json().secret).not.toBe(credentials.secret);
    const after = (await testApp.app.inject({ method: 'GET', url: `/local-user-store/api/v1/api-clients/${credentials.id}`, headers: bearer(admin) })).json();
    expect(after).toMatchObject({ secret: rotate.json().secret, oauth_client_secret: rotate.json().oauth_client_secret });
  });

  it('a role change bites at once: the member’s old token is rejected and a new one carries the new permission', async () => {
    const member = await tokenWith(testApp, []);
    const roleId = (await testApp.app.inject({ method: 'POST', url: '/role-store/api/v1/roles', headers: bearer(admin), payload: { name: 'viewers', permissions: ['roles-view'] } })).json().id;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const add = await testApp.app.inject({ method: 'POST', url: `/role-store/api/v1/roles/${roleId}/members`, headers: bearer(admin), payload: { principal_id: member.credentials.id, principal_type: 'api-client' } });
    expect(add.statusCode).toBe(200);
    expect((await testApp.app.inject({ method: 'GET', url: '/role-store/api/v1/roles', headers: bearer(member.token) })).statusCode).toBe(401);
    const { passwordGrantRequest } = await import('../helpers/app.js');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const fresh = (await testApp.app.inject(passwordGrantRequest(member.credentials))).json().access_token;
    expect((await testApp.app.inject({ method: 'GET', url: '/role-store/api/v1/roles', headers: bearer(fresh) })).statusCode).toBe(200);
    const members = await testApp.app.inject({ method: 'GET', url: `/role-store/api/v1/roles/${roleId}/members`, headers: bearer(admin) });
    expect(members.json()).toMatchObject({ count: 1, items: [{ id: member.credentials.id, type: 'api-client' }] });
  });
});
