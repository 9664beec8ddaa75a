import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { invalid } from '../../errors.js';
import type { InstallationKey } from '../../installation-key.js';
import { generatePrincipalKey, importPrivateKey, type SshKeyPair } from '../../lib/ssh-keys.js';
import { timestamp, type Clock } from '../../lib/time.js';
import type { Principal, PrincipalType } from '../../access.js';
import { joinAccessGroup } from '../authorizer/access-group-use-cases.js';
import { getUser, touchUser } from '../local-user-store/repository.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { assertAnAdminRemains, assertMayGrantPermissions, assertMayGrantRoles, assertMayManage, holdingOfRoles, lockAdmins } from './grant-rule.js';
import { ADMIN_ROLE_ID } from './permissions.js';
import { deletePrincipalKey, insertPrincipalKey, principalKeySealContext } from './principal-key-repository.js';
import { addMember, createRole, deleteRole, getRole, membersOf, removeMember, rolesByIds, rolesOf, setRoles, updateRole, type MemberType, type RoleMember } from './repository.js';
import { roleFieldsOf, type RoleInput } from './role-input.js';

/** What a use case needs from the app: the database, the clock and token revocation. */
export interface UseCaseDeps {
  db: Kysely<Tables>;
  clock: Clock;
  /** Revokes a principal's tokens and web sessions, in the caller's transaction when given one. */
  tokens: {
    revokePrincipal(type: PrincipalType, id: string, transaction?: Kysely<Tables>): Promise<void>;
    /** Once that transaction committed: revokes again whoever it revoked (see TokenService.confirmRevocations). */
    confirmRevocations(transaction: Kysely<Tables>): Promise<void>;
  };
}

/**
 * A use case's one transaction. Revocations written in it (`deps.tokens.revokePrincipal(…, trx)`)
 * commit with the change and its audit event, and are confirmed after the commit.
 */
export async function inTransaction<T>(deps: Pick<UseCaseDeps, 'db' | 'tokens'>, work: (trx: Kysely<Tables>) => Promise<T>): Promise<T> {
  let transaction: Kysely<Tables> | undefined;
  const result = await deps.db.transaction().execute(async (trx) => {
    transaction = trx;
    return work(trx);
  });
  if (transaction) await deps.tokens.confirmRevocations(transaction);
  return result;
}

/** Revokes each principal in the change's own transaction, so the change, its audit event and the revocations commit together. */
async function revokeAll(deps: UseCaseDeps, trx: Kysely<Tables>, principals: ReadonlyArray<{ type: PrincipalType; id: string }>): Promise<void> {
  for (const principal of principals) await deps.tokens.revokePrincipal(principal.type, principal.id, trx);
}

/** What a user or API client holds now, from the database. */
export async function holdingOf(db: Kysely<Tables>, type: MemberType, id: string) {
  return holdingOfRoles(await rolesOf(db, type, id));
}

/** Creates a role; the actor must hold every permission it gets. */
export async function createRoleAs(deps: UseCaseDeps, actor: Principal, input: RoleInput): Promise<string> {
  const fields = roleFieldsOf(input);
  assertMayGrantPermissions(actor, 'a role with these permissions', fields.permissions, 'permissions');
  const now = deps.clock.now();
  return inTransaction(deps, async (trx) => {
    await joinAccessGroup(trx, fields.access_group_id);
    const id = await createRole(trx, input, actor.id, now);
    await recordAuditEvent(trx, {
      type: 'role_created',
      outcome: 'success',
      principal: actor,
      objectType: 'role',
      objectId: id,
      details: { name: fields.name, permissions: fields.permissions, access_group_id: fields.access_group_id, context: fields.context },
      at: now,
    });
    return id;
  });
}

/**
 * Updates a role. Its permissions are held by every member, so the actor must hold every permission
 * the role has before and after (editing privx-admin needs privx-admin). Members are revoked when
 * the permissions or the contextual limit changed: their tokens were issued under the old ones.
 */
export async function updateRoleAs(deps: UseCaseDeps, actor: Principal, id: string, input: RoleInput): Promise<void> {
  const fields = roleFieldsOf(input);
  const { permissions } = fields;
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    const existing = await getRole(trx, id);
    assertMayGrantRoles(actor, [existing, { id, permissions }]);
    await joinAccessGroup(trx, fields.access_group_id);
    const previous = await updateRole(trx, id, input, actor.id, now);
    const limitChanged = JSON.stringify(previous.context) !== JSON.stringify(fields.context);
    await recordAuditEvent(trx, {
      type: 'role_updated',
      outcome: 'success',
      principal: actor,
      objectType: 'role',
      objectId: id,
      details: {
        before: { name: previous.name, permissions: previous.permissions, access_group_id: previous.access_group_id, context: previous.context },
        after: { name: fields.name, permissions, access_group_id: fields.access_group_id, context: fields.context },
      },
      at: now,
    });
    // Members' tokens carry the old permissions, or were issued under the old limit; make them re-authenticate.
    const permissionsChanged = JSON.stringify([...previous.permissions].sort()) !== JSON.stringify([...permissions].sort());
    if (permissionsChanged || limitChanged) await revokeAll(deps, trx, await membersOf(trx, id));
  });
}

/**
 * The users a role definition's source rules would add. Source rules are stored, not evaluated
 * (privgate's members are explicit), so none; the definition is still validated like a create.
 */
export function evaluateRole(input: RoleInput): { count: number; items: RoleMember[] } {
  roleFieldsOf(input);
  return { count: 0, items: [] };
}

/** Deletes a role (not a built-in one); like emptying it, it needs every permission it has. */
export async function deleteRoleAs(deps: UseCaseDeps, actor: Principal, id: string): Promise<void> {
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    assertMayGrantRoles(actor, [await getRole(trx, id)]);
    const members = await membersOf(trx, id);
    const before = await deleteRole(trx, id);
    await recordAuditEvent(trx, { type: 'role_deleted', outcome: 'success', principal: actor, objectType: 'role', objectId: id, details: { name: before.name }, at: now });
    await revokeAll(deps, trx, members);
  });
}

/** Adds a member: the actor must hold the role (it grants it) and everything the member holds (it changes its roles). */
export async function addRoleMemberAs(deps: UseCaseDeps, actor: Principal, roleId: string, member: { principal_id: string; principal_type: MemberType }): Promise<void> {
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    assertMayGrantRoles(actor, [await getRole(trx, roleId)]);
    assertMayManage(actor, `changing the roles of ${member.principal_type} ${member.principal_id}`, await holdingOf(trx, member.principal_type, member.principal_id));
    if (!(await addMember(trx, roleId, member.principal_type, member.principal_id, now))) return;
    await recordAuditEvent(trx, { type: 'role_member_added', outcome: 'success', principal: actor, objectType: 'role', objectId: roleId, details: { member }, at: now });
    await deps.tokens.revokePrincipal(member.principal_type, member.principal_id, trx);
  });
}

/** Removes a member: the actor must hold everything the member holds; privx-admin keeps an enabled member. */
export async function removeRoleMemberAs(deps: UseCaseDeps, actor: Principal, roleId: string, memberId: string): Promise<void> {
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    if (roleId === ADMIN_ROLE_ID) await lockAdmins(trx);
    const type = await removeMember(trx, roleId, memberId);
    // Read after the removal: the member still holds what it held, except this role.
    const remaining = await holdingOf(trx, type, memberId);
    const removed = holdingOfRoles([await getRole(trx, roleId)]);
    assertMayManage(actor, `changing the roles of ${type} ${memberId}`, { admin: remaining.admin || removed.admin, permissions: [...remaining.permissions, ...removed.permissions] });
    if (roleId === ADMIN_ROLE_ID) await assertAnAdminRemains(trx);
    await recordAuditEvent(trx, { type: 'role_member_removed', outcome: 'success', principal: actor, objectType: 'role', objectId: roleId, details: { member: { principal_id: memberId, principal_type: type } }, at: now });
    await deps.tokens.revokePrincipal(type, memberId, trx);
  });
}

/**
 * `PUT /role-store/api/v1/users/{id}/roles`: the user's explicit roles become exactly `roleIds`.
 * The actor must hold everything the user holds (it changes the account) and every role it gets;
 * privx-admin keeps an enabled holder. A change revokes the user's tokens and web sessions.
 */
export async function setUserRolesAs(deps: UseCaseDeps, actor: Principal, userId: string, roleIds: readonly string[]): Promise<void> {
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    await lockAdmins(trx);
    const before = await getUser(trx, userId);
    assertMayManage(actor, `changing the roles of user ${userId}`, await holdingOf(trx, 'user', userId));
    const granted = await rolesByIds(trx, roleIds);
    assertMayGrantRoles(actor, granted, (index) => `roles[${roleIds.indexOf(granted[index]?.id ?? '')}].id`);
    const beforeIds = before.roles.map((role) => role.id).sort();
    const afterIds = granted.map((role) => role.id).sort();
    if (JSON.stringify(beforeIds) === JSON.stringify(afterIds)) return;
    await setRoles(trx, 'user', userId, afterIds, now);
    await touchUser(trx, userId, actor.id, now);
    await assertAnAdminRemains(trx);
    await recordAuditEvent(trx, {
      type: 'user_roles_set',
      outcome: 'success',
      principal: actor,
      objectType: 'user',
      objectId: userId,
      details: { before: before.roles, after: granted.map((role) => ({ id: role.id, name: role.name })) },
      at: now,
    });
    await deps.tokens.revokePrincipal('user', userId, trx);
  });
}

/** Role use cases that also seal secrets: principal keys. */
export interface RoleStoreDeps extends UseCaseDeps {
  installationKey: Pick<InstallationKey, 'seal'>;
}

/**
 * Stores a principal key pair for a role, its private half sealed under the installation key. A
 * principal key acts for the role, so the actor must hold every permission the role has. The audit
 * event names the key and its public half, never the private one.
 */
async function addPrincipalKey(deps: RoleStoreDeps, actor: Principal, roleId: string, pair: SshKeyPair, method: 'generate' | 'import'): Promise<string> {
  const now = deps.clock.now();
  return inTransaction(deps, async (trx) => {
    assertMayGrantRoles(actor, [await getRole(trx, roleId)]);
    const id = crypto.randomUUID();
    await insertPrincipalKey(trx, {
      id,
      role_id: roleId,
      public_key: pair.publicKey,
      private_key_sealed: deps.installationKey.seal(pair.privatePem, principalKeySealContext(id)),
      created: timestamp(now),
      author: actor.id,
    });
    await recordAuditEvent(trx, {
      type: 'role_principal_key_created',
      outcome: 'success',
      principal: actor,
      objectType: 'role',
      objectId: roleId,
      details: { key_id: id, method, public_key: pair.publicKey },
      at: now,
    });
    return id;
  });
}

/** Generates an RSA principal key for a role. */
export async function generatePrincipalKeyAs(deps: RoleStoreDeps, actor: Principal, roleId: string): Promise<string> {
  // Fail before the (slow) key generation when the role is missing or not the actor's to change.
  assertMayGrantRoles(actor, [await getRole(deps.db, roleId)]);
  return addPrincipalKey(deps, actor, roleId, await generatePrincipalKey(), 'generate');
}

/** Imports a principal key from its PEM private key (RSA ≥ 2048 bits or Ed25519, unencrypted). */
export async function importPrincipalKeyAs(deps: RoleStoreDeps, actor: Principal, roleId: string, privateKey: string): Promise<string> {
  assertMayGrantRoles(actor, [await getRole(deps.db, roleId)]);
  const pair = importPrivateKey(privateKey);
  if ('problem' in pair) throw invalid('INVALID_REQUEST_DATA', pair.problem, 'private_key');
  return addPrincipalKey(deps, actor, roleId, pair, 'import');
}

/** Deletes a principal key; like adding one, it needs every permission of the role. */
export async function deletePrincipalKeyAs(deps: RoleStoreDeps, actor: Principal, roleId: string, keyId: string): Promise<void> {
  const now = deps.clock.now();
  await inTransaction(deps, async (trx) => {
    assertMayGrantRoles(actor, [await getRole(trx, roleId)]);
    const key = await deletePrincipalKey(trx, roleId, keyId);
    await recordAuditEvent(trx, {
      type: 'role_principal_key_deleted',
      outcome: 'success',
      principal: actor,
      objectType: 'role',
      objectId: roleId,
      details: { key_id: key.id, public_key: key.public_key },
      at: now,
    });
  });
}
