import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectFor } from '../../src/services/auth/subjects.js';
import { ADMIN_ROLE_ID, USER_ROLE_ID } from '../../src/services/role-store/permissions.js';
import { bearer, createTestApp, envelope, passwordGrantRequest, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';

const USERS = '/local-user-store/api/v1/users';
const API_CLIENTS = '/local-user-store/api/v1/api-clients';
const TRUSTED_CLIENTS = '/local-user-store/api/v1/trusted-clients';
const ROLES = '/role-store/api/v1/roles';

type Request = { method: 'POST' | 'PUT' | 'DELETE'; url: string; headers: Record<string, string>; payload?: InjectOptions['payload'] };

/** Every row of the tables a grant can touch, in a stable order: "nothing changed" is equality. */
async function snapshot(testApp: TestApp): Promise<string> {
  const db = testApp.app.context.database.db;
  return JSON.stringify({
    users: await db.selectFrom('users').selectAll().orderBy('id').execute(),
    api_clients: await db.selectFrom('api_clients').selectAll().orderBy('id').execute(),
    trusted_clients: await db.selectFrom('trusted_clients').selectAll().orderBy('id').execute(),
    roles: await db.selectFrom('roles').selectAll().orderBy('id').execute(),
    role_members: await db.selectFrom('role_members').selectAll().orderBy('role_id').orderBy('principal_id').execute(),
    audit_events: await db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow().then((row) => Number(row.n)),
    token_revocations: await db.selectFrom('token_revocations').selectAll().orderBy('key').execute(),
  });
}

async function builtinAdminId(testApp: TestApp): Promise<string> {
  const row = await testApp.app.context.database.db.selectFrom('users').select('id').where('builtin', '=', 1).executeTakeFirstOrThrow();
  return row.id;
}

/** An access token of the user `id` with its current roles (users log in through the browser flow; the token is the same kind). */
async function userToken(testApp: TestApp, id: string, name: string): Promise<string> {
  const subject = await subjectFor(testApp.app.context.database.db, 'user', id, name);
  return (await testApp.app.tokens.signAccessToken(subject, 'grant-rule-test')).token;
}

/** Expects the grant rule's refusal: 403 PERMISSION_DENIED naming `missing`, and nothing changed. */
async function expectRefused(testApp: TestApp, request: Request, missing: string[], property?: string): Promise<void> {
  const before = await snapshot(testApp);
  const response = await testApp.app.inject(request as InjectOptions);
  expect(response.statusCode, response.body).toBe(403);
  const body = envelope(response);
  expect(body.error_code).toBe('PERMISSION_DENIED');
  expect(body.error_message).toMatch(new RegExp(`needs what the caller does not hold: ${missing.join(', ')}$`));
  if (property) expect(body.property).toBe(property);
  expect(await snapshot(testApp)).toBe(before);
}

describe.each(testBackends())('nobody grants what they do not hold, on %s', (backend) => {
  let testApp: TestApp;
  let admin: string;
  beforeAll(async () => {
    testApp = await createTestApp(backend);
    admin = (await tokenWith(testApp, 'admin')).token;
  });
  afterAll(async () => testApp?.close());

  async function roleWith(permissions: string[], name = `role-${Math.random().toString(36).slice(2)}`): Promise<string> {
    const response = await testApp.app.inject({ method: 'POST', url: ROLES, headers: bearer(admin), payload: { name, permissions } });
    expect(response.statusCode, response.body).toBe(201);
    return response.json().id;
  }

  describe('api-clients-manage alone', () => {
    it('cannot create an API client holding privx-admin: 403 naming privx-admin, nothing created', async () => {
      const { token } = await tokenWith(testApp, ['api-clients-manage']);
      await expectRefused(testApp, { method: 'POST', url: API_CLIENTS, headers: bearer(token), payload: { name: 'x', roles: [{ id: ADMIN_ROLE_ID }] } }, ['privx-admin'], 'roles[0].id');
    });

    it('cannot rotate the secrets of an admin API client; its credentials keep working', async () => {
      const { token } = await tokenWith(testApp, ['api-clients-manage']);
      const target = await tokenWith(testApp, 'admin');
      await expectRefused(testApp, { method: 'POST', url: `${API_CLIENTS}/${target.credentials.id}/rotate-secret`, headers: bearer(token) }, ['privx-admin']);
      expect((await testApp.app.inject(passwordGrantRequest(target.credentials))).statusCode).toBe(200);
    });

    it('cannot give a client a role with a permission it lacks, nor change or delete a client holding more', async () => {
      const { token } = await tokenWith(testApp, ['api-clients-manage']);
      const hostsManage = await roleWith(['hosts-manage', 'hosts-view']);
      await expectRefused(testApp, { method: 'POST', url: API_CLIENTS, headers: bearer(token), payload: { name: 'y', roles: [{ id: USER_ROLE_ID }, { id: hostsManage }] } }, ['hosts-manage', 'hosts-view'], 'roles[1].id');
      const target = await tokenWith(testApp, ['hosts-view']);
      await expectRefused(testApp, { method: 'PUT', url: `${API_CLIENTS}/${target.credentials.id}`, headers: bearer(token), payload: { name: 'renamed', roles: [] } }, ['hosts-view']);
      await expectRefused(testApp, { method: 'DELETE', url: `${API_CLIENTS}/${target.credentials.id}`, headers: bearer(token) }, ['hosts-view']);
    });

    it('still creates, updates, rotates and deletes clients whose roles it holds', async () => {
      const actor = await tokenWith(testApp, ['api-clients-manage']);
      const own = await roleWith(['api-clients-manage']);
      const create = await testApp.app.inject({ method: 'POST', url: API_CLIENTS, headers: bearer(actor.token), payload: { name: 'allowed-client', roles: [{ id: own }, { id: USER_ROLE_ID }] } });
      expect(create.statusCode, create.body).toBe(201);
      const id = create.json().id as string;
      expect((await testApp.app.inject({ method: 'PUT', url: `${API_CLIENTS}/${id}`, headers: bearer(actor.token), payload: { name: 'allowed-client-2', roles: [{ id: own }] } })).statusCode).toBe(200);
      expect((await testApp.app.inject({ method: 'POST', url: `${API_CLIENTS}/${id}/rotate-secret`, headers: bearer(actor.token) })).statusCode).toBe(200);
      const members = await testApp.app.context.database.db.selectFrom('role_members').select('role_id').where('principal_id', '=', id).execute();
      expect(members.map((row) => row.role_id)).toEqual([own]);
      expect((await testApp.app.inject({ method: 'DELETE', url: `${API_CLIENTS}/${id}`, headers: bearer(actor.token) })).statusCode).toBe(200);
    });
  });

  describe('users-manage alone', () => {
    it('cannot set the built-in admin’s password: 403 naming privx-admin, the hash unchanged', async () => {
      const { token } = await tokenWith(testApp, ['users-manage']);
      const adminId = await builtinAdminId(testApp);
      await expectRefused(testApp, { method: 'PUT', url: `${USERS}/${adminId}/password`, headers: bearer(token), payload: { password: 'taken over by users-manage' } }, ['privx-admin']);
    });

    it('cannot create a user holding privx-admin: 403, no user created', async () => {
      const { token } = await tokenWith(testApp, ['users-manage']);
      await expectRefused(
        testApp,
        { method: 'POST', url: USERS, headers: bearer(token), payload: { username: 'mallory', password: 'a long enough password', roles: [{ id: ADMIN_ROLE_ID, name: 'privx-admin' }] } },
        ['privx-admin'],
        'roles[0].id',
      );
    });

    it('cannot update, disable, delete or grant to an account that holds more than it does', async () => {
      const { token } = await tokenWith(testApp, ['users-manage']);
      const adminId = await builtinAdminId(testApp);
      await expectRefused(testApp, { method: 'PUT', url: `${USERS}/${adminId}`, headers: bearer(token), payload: { username: 'admin', disabled: true } }, ['privx-admin']);
      await expectRefused(testApp, { method: 'PUT', url: `${USERS}/${adminId}`, headers: bearer(token), payload: { username: 'admin', roles: [] } }, ['privx-admin']);
      const viewer = await roleWith(['logs-view']);
      const create = await testApp.app.inject({ method: 'POST', url: USERS, headers: bearer(admin), payload: { username: 'auditor', roles: [{ id: viewer }] } });
      expect(create.statusCode).toBe(201);
      const auditor = create.json().id as string;
      await expectRefused(testApp, { method: 'DELETE', url: `${USERS}/${auditor}`, headers: bearer(token) }, ['logs-view']);
      await expectRefused(testApp, { method: 'PUT', url: `${USERS}/${auditor}/password`, headers: bearer(token), payload: { password: 'a long enough password' } }, ['logs-view']);
      await expectRefused(testApp, { method: 'POST', url: USERS, headers: bearer(token), payload: { username: 'auditor-2', roles: [{ id: viewer }] } }, ['logs-view'], 'roles[0].id');
    });

    it('still creates a user with roles it holds, sets its password, updates and deletes it', async () => {
      const { token } = await tokenWith(testApp, ['users-manage', 'users-view']);
      const viewers = await roleWith(['users-view']);
      const create = await testApp.app.inject({ method: 'POST', url: USERS, headers: bearer(token), payload: { username: 'helpdesk', password: 'a long enough password', roles: [{ id: viewers }, { id: USER_ROLE_ID }] } });
      expect(create.statusCode, create.body).toBe(201);
      const id = create.json().id as string;
      expect((await testApp.app.inject({ method: 'PUT', url: `${USERS}/${id}/password`, headers: bearer(token), payload: { password: 'another long password' } })).statusCode).toBe(200);
      expect((await testApp.app.inject({ method: 'PUT', url: `${USERS}/${id}`, headers: bearer(token), payload: { username: 'helpdesk', disabled: true, roles: [{ id: viewers }] } })).statusCode).toBe(200);
      const user = await testApp.app.inject({ method: 'GET', url: `${USERS}/${id}`, headers: bearer(token) });
      expect(user.json()).toMatchObject({ disabled: true, roles: [{ id: viewers }] });
      expect((await testApp.app.inject({ method: 'DELETE', url: `${USERS}/${id}`, headers: bearer(token) })).statusCode).toBe(200);
    });
  });

  describe('roles-manage alone', () => {
    it('cannot add itself to privx-admin: 403 naming privx-admin, membership unchanged', async () => {
      const actor = await tokenWith(testApp, ['roles-manage']);
      await expectRefused(
        testApp,
        { method: 'POST', url: `${ROLES}/${ADMIN_ROLE_ID}/members`, headers: bearer(actor.token), payload: { principal_id: actor.credentials.id, principal_type: 'api-client' } },
        ['privx-admin'],
      );
    });

    it('cannot add a permission it lacks to its own role, nor create a role with one', async () => {
      const actor = await tokenWith(testApp, ['roles-manage']);
      const [own] = await testApp.app.context.database.db.selectFrom('role_members').select('role_id').where('principal_id', '=', actor.credentials.id).execute();
      const role = await testApp.app.inject({ method: 'GET', url: `${ROLES}/${own?.role_id}`, headers: bearer(admin) });
      await expectRefused(testApp, { method: 'PUT', url: `${ROLES}/${own?.role_id}`, headers: bearer(actor.token), payload: { name: role.json().name, permissions: ['roles-manage', 'users-manage'] } }, ['users-manage']);
      await expectRefused(testApp, { method: 'POST', url: ROLES, headers: bearer(actor.token), payload: { name: 'stepping-stone', permissions: ['api-clients-manage', 'roles-manage'] } }, ['api-clients-manage']);
    });

    it('cannot edit, delete, or take members out of a role holding more than it does', async () => {
      const actor = await tokenWith(testApp, ['roles-manage']);
      const hosts = await roleWith(['hosts-manage']);
      await expectRefused(testApp, { method: 'PUT', url: `${ROLES}/${hosts}`, headers: bearer(actor.token), payload: { name: 'hosts-renamed', permissions: [] } }, ['hosts-manage']);
      await expectRefused(testApp, { method: 'DELETE', url: `${ROLES}/${hosts}`, headers: bearer(actor.token) }, ['hosts-manage']);
      const member = await tokenWith(testApp, []);
      expect((await testApp.app.inject({ method: 'POST', url: `${ROLES}/${hosts}/members`, headers: bearer(admin), payload: { principal_id: member.credentials.id, principal_type: 'api-client' } })).statusCode).toBe(200);
      await expectRefused(testApp, { method: 'DELETE', url: `${ROLES}/${hosts}/members/${member.credentials.id}`, headers: bearer(actor.token) }, ['hosts-manage']);
    });

    it('still creates a role it holds, adds and removes a member that holds no more', async () => {
      const actor = await tokenWith(testApp, ['roles-manage', 'roles-view']);
      const create = await testApp.app.inject({ method: 'POST', url: ROLES, headers: bearer(actor.token), payload: { name: 'role-readers', permissions: ['roles-view'] } });
      expect(create.statusCode, create.body).toBe(201);
      const roleId = create.json().id as string;
      const member = await tokenWith(testApp, []);
      expect((await testApp.app.inject({ method: 'POST', url: `${ROLES}/${roleId}/members`, headers: bearer(actor.token), payload: { principal_id: member.credentials.id, principal_type: 'api-client' } })).statusCode).toBe(200);
      const rows = await testApp.app.context.database.db.selectFrom('role_members').select('role_id').where('principal_id', '=', member.credentials.id).execute();
      expect(rows.map((row) => row.role_id)).toEqual([roleId]);
      expect((await testApp.app.inject({ method: 'DELETE', url: `${ROLES}/${roleId}/members/${member.credentials.id}`, headers: bearer(actor.token) })).statusCode).toBe(200);
      expect((await testApp.app.inject({ method: 'PUT', url: `${ROLES}/${roleId}`, headers: bearer(actor.token), payload: { name: 'role-readers', permissions: [] } })).statusCode).toBe(200);
    });
  });

  describe('trusted clients', () => {
    const client = (permissions: string[]) => ({ type: 'ICAP', name: `proxy-${Math.random().toString(36).slice(2)}`, permissions });

    it('api-clients-manage cannot create one listing a permission it lacks, nor change or delete one holding more', async () => {
      const { token } = await tokenWith(testApp, ['api-clients-manage']);
      await expectRefused(testApp, { method: 'POST', url: TRUSTED_CLIENTS, headers: bearer(token), payload: client(['users-manage']) }, ['users-manage'], 'permissions');
      const created = await testApp.app.inject({ method: 'POST', url: TRUSTED_CLIENTS, headers: bearer(admin), payload: client(['hosts-view']) });
      expect(created.statusCode).toBe(201);
      const id = created.json().id as string;
      await expectRefused(testApp, { method: 'PUT', url: `${TRUSTED_CLIENTS}/${id}`, headers: bearer(token), payload: { ...client([]), enabled: true } }, ['hosts-view']);
      await expectRefused(testApp, { method: 'DELETE', url: `${TRUSTED_CLIENTS}/${id}`, headers: bearer(token) }, ['hosts-view']);
    });

    it('api-clients-manage cannot download the config (fresh registration credentials) of a web proxy holding more', async () => {
      const { token } = await tokenWith(testApp, ['api-clients-manage']);
      const created = await testApp.app.inject({ method: 'POST', url: TRUSTED_CLIENTS, headers: bearer(admin), payload: client(['hosts-manage']) });
      expect(created.statusCode, created.body).toBe(201);
      const id = created.json().id as string;
      await expectRefused(testApp, { method: 'POST', url: `/authorizer/api/v1/icap/conf/${id}`, headers: bearer(token) }, ['hosts-manage']);
      // A session an admin opened is no way round it: the download itself is refused, and the session stays unused.
      const session = await testApp.app.inject({ method: 'POST', url: `/authorizer/api/v1/icap/conf/${id}`, headers: bearer(admin) });
      expect(session.statusCode, session.body).toBe(201);
      const download = { method: 'GET' as const, url: `/authorizer/api/v1/icap/conf/${id}/${session.json().session_id as string}`, headers: bearer(token) };
      const refused = await testApp.app.inject(download);
      expect(refused.statusCode, refused.body).toBe(403);
      expect(envelope(refused)).toMatchObject({ error_code: 'PERMISSION_DENIED', error_message: expect.stringMatching(/does not hold: hosts-manage$/) });
      expect((await testApp.app.inject({ ...download, headers: bearer(admin) })).statusCode).toBe(200);
    });

    it('api-clients-manage still manages one whose list names no permission it lacks (PrivX labels grant nothing)', async () => {
      const { token } = await tokenWith(testApp, ['api-clients-manage']);
      const created = await testApp.app.inject({ method: 'POST', url: TRUSTED_CLIENTS, headers: bearer(token), payload: client(['privx-web-proxy', 'api-clients-manage']) });
      expect(created.statusCode, created.body).toBe(201);
      const id = created.json().id as string;
      expect((await testApp.app.inject({ method: 'POST', url: `/authorizer/api/v1/icap/conf/${id}`, headers: bearer(token) })).statusCode).toBe(201);
      expect((await testApp.app.inject({ method: 'PUT', url: `${TRUSTED_CLIENTS}/${id}`, headers: bearer(token), payload: { ...client([]), enabled: true } })).statusCode).toBe(200);
      expect((await testApp.app.inject({ method: 'DELETE', url: `${TRUSTED_CLIENTS}/${id}`, headers: bearer(token) })).statusCode).toBe(200);
    });
  });
});

describe.each(testBackends())('the last enabled privx-admin holder stays, on %s', (backend) => {
  let testApp: TestApp;
  let adminId: string;
  let adminUser: string;
  beforeAll(async () => {
    testApp = await createTestApp(backend);
    adminId = await builtinAdminId(testApp);
    // The built-in admin is the only holder of privx-admin in a fresh installation.
    adminUser = await userToken(testApp, adminId, 'admin');
  });
  afterAll(async () => testApp?.close());

  async function expectConflict(request: Request): Promise<void> {
    const before = await snapshot(testApp);
    const response = await testApp.app.inject(request as InjectOptions);
    expect(response.statusCode, response.body).toBe(409);
    expect(envelope(response)).toMatchObject({ error_code: 'CONFLICT', error_message: expect.stringContaining('privx-admin') });
    expect(await snapshot(testApp)).toBe(before);
  }

  it('the last one cannot lose the role by PUT /users/{id} with "roles": [], be disabled, or be removed from the role', async () => {
    await expectConflict({ method: 'PUT', url: `${USERS}/${adminId}`, headers: bearer(adminUser), payload: { username: 'admin', roles: [] } });
    await expectConflict({ method: 'PUT', url: `${USERS}/${adminId}`, headers: bearer(adminUser), payload: { username: 'admin', roles: [{ id: USER_ROLE_ID }] } });
    await expectConflict({ method: 'PUT', url: `${USERS}/${adminId}`, headers: bearer(adminUser), payload: { username: 'admin', disabled: true } });
    await expectConflict({ method: 'DELETE', url: `${ROLES}/${ADMIN_ROLE_ID}/members/${adminId}`, headers: bearer(adminUser) });
  });

  it('with a second enabled holder the change goes through; that holder then cannot remove itself', async () => {
    const second = await tokenWith(testApp, 'admin');
    const disable = await testApp.app.inject({ method: 'PUT', url: `${USERS}/${adminId}`, headers: bearer(second.token), payload: { username: 'admin', disabled: true } });
    expect(disable.statusCode, disable.body).toBe(200);
    // A disabled admin does not count: the API client is now the last enabled holder.
    await expectConflict({ method: 'DELETE', url: `${API_CLIENTS}/${second.credentials.id}`, headers: bearer(second.token) });
    await expectConflict({ method: 'PUT', url: `${API_CLIENTS}/${second.credentials.id}`, headers: bearer(second.token), payload: { name: 'still-admin', roles: [] } });
    await expectConflict({ method: 'DELETE', url: `${ROLES}/${ADMIN_ROLE_ID}/members/${second.credentials.id}`, headers: bearer(second.token) });
    expect((await testApp.app.inject({ method: 'PUT', url: `${USERS}/${adminId}`, headers: bearer(second.token), payload: { username: 'admin', disabled: false } })).statusCode).toBe(200);
    expect((await testApp.app.inject({ method: 'DELETE', url: `${ROLES}/${ADMIN_ROLE_ID}/members/${second.credentials.id}`, headers: bearer(second.token) })).statusCode).toBe(200);
  });

  it('two last holders deleting each other at the same time: one wins, the other gets 409, one holder remains', async () => {
    const first = await tokenWith(testApp, 'admin');
    const second = await tokenWith(testApp, 'admin');
    expect((await testApp.app.inject({ method: 'PUT', url: `${USERS}/${adminId}`, headers: bearer(first.token), payload: { username: 'admin', disabled: true } })).statusCode).toBe(200);
    const answers = await Promise.all([
      testApp.app.inject({ method: 'DELETE', url: `${API_CLIENTS}/${second.credentials.id}`, headers: bearer(first.token) }),
      testApp.app.inject({ method: 'DELETE', url: `${API_CLIENTS}/${first.credentials.id}`, headers: bearer(second.token) }),
    ]);
    // The loser either passed the guard and met the guard's 409, or arrived after the winner's
    // deletion had already revoked its token (401); never both deleted.
    const statuses = answers.map((answer) => answer.statusCode).sort();
    expect(statuses[0]).toBe(200);
    expect([401, 409]).toContain(statuses[1]);
    const holders = await testApp.app.context.database.db.selectFrom('role_members').select('principal_id').where('role_id', '=', ADMIN_ROLE_ID).where('principal_type', '=', 'api-client').execute();
    expect(holders).toHaveLength(1);
  });
});
