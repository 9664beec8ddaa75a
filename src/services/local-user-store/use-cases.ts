import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { hashPassword } from '../../lib/secrets.js';
import { type Principal, isPermission } from '../../access.js';
import { joinAccessGroup } from '../authorizer/access-group-use-cases.js';
import { revokeWebProxyCertificates } from '../authorizer/repository.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { assertAnAdminRemains, assertMayGrantPermissions, assertMayGrantRoles, assertMayManage, holdingOfRoles, lockAdmins, missingFrom, type Holding } from '../role-store/grant-rule.js';
import { rolesByIds } from '../role-store/repository.js';
import { holdingOf, inTransaction, type UseCaseDeps } from '../role-store/use-cases.js';
import { createUser, deleteUser, getUser, setUserPassword, updateUser, type UserInput } from './repository.js';
import {
  createApiClient,
  deleteApiClient,
  getApiClient,
  listApiClients,
  rotateApiClientSecrets,
  sealContext,
  updateApiClient,
  type ApiClient,
  type ApiClientCredentials,
  type ApiClientInput,
  type ApiClientKeys,
  type ApiClientListOptions,
  type SealedApiClient,
} from './api-client-repository.js';
import { createTrustedClient, deleteTrustedClient, getTrustedClient, updateTrustedClient, type TrustedClient, type TrustedClientInput } from './trusted-client-repository.js';

/** The local user store's use cases also make secrets. */
export interface LocalUserStoreDeps extends UseCaseDeps {
  secretKey: Buffer;
}

type RoleRefsInput = Array<{ id: string }> | null | undefined;

/**
 * The grant check for a `roles` array of a request: every role must exist (400 naming
 * `roles[i].id`) and the actor must hold every permission of each (403 naming what it lacks).
 */
async function assertMayGrantRoleRefs(trx: Kysely<Tables>, actor: Principal, refs: RoleRefsInput): Promise<void> {
  if (!refs || refs.length === 0) return;
  const ids = refs.map((ref) => ref.id);
  const byId = new Map((await rolesByIds(trx, ids)).map((role) => [role.id, role]));
  assertMayGrantRoles(
    actor,
    ids.map((id) => byId.get(id) as { id: string; permissions: string[] }),
    (index) => `roles[${index}].id`,
  );
}

const sameRoles = (a: ReadonlyArray<{ id: string }>, b: ReadonlyArray<{ id: string }>) => JSON.stringify(a.map((role) => role.id).sort()) === JSON.stringify(b.map((role) => role.id).sort());

// ─── users ─────────────────────────────────────────────────────────────────────────────────────

export async function createUserAs(deps: LocalUserStoreDeps, actor: Principal, input: UserInput & { password?: string | undefined }): Promise<string> {
  // Hashed before the transaction: scrypt takes tens of milliseconds.
  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  const now = deps.clock.now();
  return inTransaction(deps, async (trx) => {
    await assertMayGrantRoleRefs(trx, actor, input.roles);
    const id = await createUser(trx, input, passwordHash, actor.id, now);
    await recordAuditEvent(trx, { type: 'user_created', outcome: 'success', principal: actor, objectType: 'user', objectId: id, details: { username: input.username }, at: now });
    return id;
  });
}

/**
 * Updates a user: the actor must hold everything the user holds and every role it gets; privx-admin
 * keeps an enabled holder. A `password` in the body (PrivX's LocalUser carries one) sets it as
 * PUT /users/{id}/password does.
 */
export async function updateUserAs(deps: LocalUserStoreDeps, actor: Principal, id: string, input: UserInput & { password?: string | undefined }): Promise<void> {
  // Hashed before the transaction: scrypt takes tens of milliseconds. The checks below still decide.
  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    await lockAdmins(trx);
    await getUser(trx, id);
    assertMayManage(actor, `changing user ${id}`, await holdingOf(trx, 'user', id));
    await assertMayGrantRoleRefs(trx, actor, input.roles);
    const before = await updateUser(trx, id, input, passwordHash, actor.id, now);
    const after = await getUser(trx, id);
    await assertAnAdminRemains(trx);
    await recordAuditEvent(trx, {
      type: 'user_updated',
      outcome: 'success',
      principal: actor,
      objectType: 'user',
      objectId: id,
      details: {
        before: { username: before.username, disabled: before.disabled, roles: before.roles },
        after: { username: after.username, disabled: after.disabled, roles: after.roles },
        ...(passwordHash === null ? {} : { password_set: true }),
      },
      at: now,
    });
    // New roles, a new password or a disabled account must bite now, not when the current token expires.
    if (passwordHash !== null || after.disabled !== before.disabled || !sameRoles(after.roles, before.roles)) await deps.tokens.revokePrincipal('user', id, trx);
  });
}

/** Sets a password (a credential): the actor must hold everything the user holds. */
export async function setUserPasswordAs(deps: LocalUserStoreDeps, actor: Principal, id: string, password: string): Promise<void> {
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    await getUser(trx, id);
    assertMayManage(actor, `changing the password of user ${id}`, await holdingOf(trx, 'user', id));
  });
  const passwordHash = await hashPassword(password);
  await inTransaction(deps, async (trx) => {
    // Again, now in the transaction that writes: the user's roles may have changed while hashing.
    await getUser(trx, id);
    assertMayManage(actor, `changing the password of user ${id}`, await holdingOf(trx, 'user', id));
    await setUserPassword(trx, id, passwordHash, actor.id, now);
    await recordAuditEvent(trx, { type: 'user_password_set', outcome: 'success', principal: actor, objectType: 'user', objectId: id, at: now });
    await deps.tokens.revokePrincipal('user', id, trx);
  });
}

export async function deleteUserAs(deps: LocalUserStoreDeps, actor: Principal, id: string): Promise<void> {
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    await lockAdmins(trx);
    await getUser(trx, id);
    assertMayManage(actor, `deleting user ${id}`, await holdingOf(trx, 'user', id));
    const before = await deleteUser(trx, id);
    await assertAnAdminRemains(trx);
    await recordAuditEvent(trx, { type: 'user_deleted', outcome: 'success', principal: actor, objectType: 'user', objectId: id, details: { username: before.username }, at: now });
    await deps.tokens.revokePrincipal('user', id, trx);
  });
}

// ─── API clients ───────────────────────────────────────────────────────────────────────────────

/** API-client use cases also seal secrets under the installation key. */
export interface ApiClientDeps extends LocalUserStoreDeps, ApiClientKeys {}

/** An API client as GET answers it: the secrets are '' unless the caller may see them. */
export interface ApiClientView extends ApiClient {
  secret: string;
  oauth_client_secret: string;
}

/**
 * Whether `actor` may read a client's secrets: as PrivX, a holder of api-clients-manage — and,
 * since the secrets are the client's credentials, only one holding every permission the client's
 * roles hold (privx-admin passes; a client holding privx-admin shows its secrets to privx-admin only).
 */
function maySeeSecrets(actor: Principal, client: Holding): boolean {
  if (!actor.admin && !actor.permissions.has('api-clients-manage')) return false;
  return missingFrom(actor, client).length === 0;
}

/** The GET views of `clients` for `actor`: each client's roles decide whether its secrets show. */
async function viewsFor(deps: ApiClientDeps, actor: Principal, clients: readonly SealedApiClient[]): Promise<ApiClientView[]> {
  const roles = new Map((await rolesByIds(deps.db, clients.flatMap((client) => client.roles.map((role) => role.id)))).map((role) => [role.id, role]));
  return clients.map(({ secret_sealed, oauth_client_secret_sealed, ...client }) => {
    const holding = holdingOfRoles(client.roles.flatMap((ref) => roles.get(ref.id) ?? []));
    // A client made before secrets were sealed has only hashes: its secrets read back '' until rotated.
    const show = maySeeSecrets(actor, holding);
    return {
      ...client,
      secret: show && secret_sealed !== null ? deps.installationKey.openText(secret_sealed, sealContext.secret(client.id)) : '',
      oauth_client_secret:
        show && oauth_client_secret_sealed !== null ? deps.installationKey.openText(oauth_client_secret_sealed, sealContext.oauthClientSecret(client.id)) : '',
    };
  });
}

/** One API client as `actor` may see it. */
export async function readApiClientAs(deps: ApiClientDeps, actor: Principal, id: string): Promise<ApiClientView> {
  const [view] = await viewsFor(deps, actor, [await getApiClient(deps.db, id)]);
  return view as ApiClientView;
}

/** A page of API clients (optionally matching `keywords`) as `actor` may see them. */
export async function listApiClientsAs(deps: ApiClientDeps, actor: Principal, options: ApiClientListOptions): Promise<{ count: number; items: ApiClientView[] }> {
  const page = await listApiClients(deps.db, options);
  return { count: page.count, items: await viewsFor(deps, actor, page.items) };
}

export async function createApiClientAs(deps: ApiClientDeps, actor: Principal, input: ApiClientInput): Promise<ApiClientCredentials> {
  const now = deps.clock.now();
  return inTransaction(deps, async (trx) => {
    await assertMayGrantRoleRefs(trx, actor, input.roles);
    const credentials = await createApiClient(trx, deps, input, actor.id, now);
    await recordAuditEvent(trx, { type: 'api_client_created', outcome: 'success', principal: actor, objectType: 'api-client', objectId: credentials.id, details: { name: input.name }, at: now });
    return credentials;
  });
}

export async function updateApiClientAs(deps: ApiClientDeps, actor: Principal, id: string, input: ApiClientInput): Promise<void> {
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    await lockAdmins(trx);
    await getApiClient(trx, id);
    assertMayManage(actor, `changing API client ${id}`, await holdingOf(trx, 'api-client', id));
    await assertMayGrantRoleRefs(trx, actor, input.roles);
    const before = await updateApiClient(trx, id, input, actor.id, now);
    const after = await getApiClient(trx, id);
    await assertAnAdminRemains(trx);
    await recordAuditEvent(trx, {
      type: 'api_client_updated',
      outcome: 'success',
      principal: actor,
      objectType: 'api-client',
      objectId: id,
      details: { before: { name: before.name, roles: before.roles }, after: { name: after.name, roles: after.roles } },
      at: now,
    });
    if (!sameRoles(after.roles, before.roles)) await deps.tokens.revokePrincipal('api-client', id, trx);
  });
}

/** New secrets are credentials: the actor must hold everything the client holds. */
export async function rotateApiClientSecretsAs(deps: ApiClientDeps, actor: Principal, id: string): Promise<ApiClientCredentials> {
  const now = deps.clock.now();
  const credentials = await inTransaction(deps, async (trx) => {
    await getApiClient(trx, id);
    assertMayManage(actor, `rotating the secrets of API client ${id}`, await holdingOf(trx, 'api-client', id));
    const credentials = await rotateApiClientSecrets(trx, deps, id, actor.id, now);
    await recordAuditEvent(trx, { type: 'api_client_secret_rotated', outcome: 'success', principal: actor, objectType: 'api-client', objectId: id, at: now });
    await deps.tokens.revokePrincipal('api-client', id, trx);
    return credentials;
  });
  return credentials;
}

export async function deleteApiClientAs(deps: ApiClientDeps, actor: Principal, id: string): Promise<void> {
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    await lockAdmins(trx);
    await getApiClient(trx, id);
    assertMayManage(actor, `deleting API client ${id}`, await holdingOf(trx, 'api-client', id));
    const before = await deleteApiClient(trx, id);
    await assertAnAdminRemains(trx);
    await recordAuditEvent(trx, { type: 'api_client_deleted', outcome: 'success', principal: actor, objectType: 'api-client', objectId: id, details: { name: before.name }, at: now });
    await deps.tokens.revokePrincipal('api-client', id, trx);
  });
}

// ─── trusted clients ───────────────────────────────────────────────────────────────────────────

/**
 * What a trusted client holds for the grant rule: the names in its `permissions` list that are
 * role permissions (other strings are PrivX's own labels and grant nothing). Its tokens carry the
 * `service` scope only, which `api-clients-manage` (the routes' permission) hands out by design.
 */
export function trustedClientHolding(client: Pick<TrustedClient, 'permissions'>): Holding {
  return { admin: false, permissions: client.permissions.filter(isPermission) };
}

/** What the audit log keeps of a client (no secrets exist in it anyway). */
function auditView(client: TrustedClient) {
  return {
    name: client.name,
    type: client.type,
    enabled: client.enabled,
    permissions: client.permissions,
    subnets: client.subnets,
    allow_repeated_registration: client.allow_repeated_registration,
    web_proxy_address: client.web_proxy_address,
    web_proxy_port: client.web_proxy_port,
    access_group_id: client.access_group_id,
    extender_mode: client.extender_mode,
    web_proxy_extender_route_patterns: client.web_proxy_extender_route_patterns,
    extender_ssh_address: client.extender_ssh_address,
    extender_ssh_port: client.extender_ssh_port,
  };
}

export async function createTrustedClientAs(deps: UseCaseDeps, actor: Principal, input: TrustedClientInput): Promise<string> {
  assertMayGrantPermissions(actor, 'a trusted client with these permissions', input.permissions ?? [], 'permissions');
  const now = deps.clock.now();
  return inTransaction(deps, async (trx) => {
    const access_group_id = await joinAccessGroup(trx, input.access_group_id);
    const id = await createTrustedClient(trx, { ...input, access_group_id }, actor.id, now);
    const created = await getTrustedClient(trx, id);
    await recordAuditEvent(trx, { type: 'trusted_client_created', outcome: 'success', principal: actor, objectType: 'trusted-client', objectId: id, details: auditView(created), at: now });
    return id;
  });
}

/** Disabling drops the registration, revokes the web-proxy certificate and (after commit) the tokens. */
export async function updateTrustedClientAs(deps: UseCaseDeps, actor: Principal, id: string, input: TrustedClientInput): Promise<void> {
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    assertMayManage(actor, `changing trusted client ${id}`, trustedClientHolding(await getTrustedClient(trx, id)));
    assertMayGrantPermissions(actor, 'a trusted client with these permissions', input.permissions ?? [], 'permissions');
    const access_group_id = await joinAccessGroup(trx, input.access_group_id);
    const before = await updateTrustedClient(trx, id, { ...input, access_group_id }, actor.id, now);
    const after = await getTrustedClient(trx, id);
    const disabling = before.enabled && !after.enabled;
    const revoked = disabling ? await revokeWebProxyCertificates(trx, id, now) : [];
    await recordAuditEvent(trx, {
      type: 'trusted_client_updated',
      outcome: 'success',
      principal: actor,
      objectType: 'trusted-client',
      objectId: id,
      details: { before: auditView(before), after: auditView(after), ...(disabling ? { revoked_certificates: revoked } : {}) },
      at: now,
    });
    if (disabling) await deps.tokens.revokePrincipal('trusted-client', id, trx);
  });
}

export async function deleteTrustedClientAs(deps: UseCaseDeps, actor: Principal, id: string): Promise<void> {
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    assertMayManage(actor, `deleting trusted client ${id}`, trustedClientHolding(await getTrustedClient(trx, id)));
    const deleted = await deleteTrustedClient(trx, id);
    const serials = await revokeWebProxyCertificates(trx, id, now);
    await recordAuditEvent(trx, {
      type: 'trusted_client_deleted',
      outcome: 'success',
      principal: actor,
      objectType: 'trusted-client',
      objectId: id,
      details: { ...auditView(deleted), revoked_certificates: serials },
      at: now,
    });
    await deps.tokens.revokePrincipal('trusted-client', id, trx);
  });
}
