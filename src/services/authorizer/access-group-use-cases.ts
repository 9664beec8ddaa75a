import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AppContext } from '../../context.js';
import type { Tables } from '../../db/schema.js';
import { PrivxError, invalid, notFound } from '../../errors.js';
import { createCertificateRevocationList, describeCertificate } from '../../lib/pki.js';
import { addSeconds } from '../../lib/time.js';
import type { Principal } from '../../access.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { CA_KEY_TYPES, DEFAULT_CA_KEY_TYPE, makeAccessGroupCa, privateKeyContext, type CaKeyType } from './access-group-ca.js';
import {
  DEFAULT_ACCESS_GROUP_ID,
  accessGroupReferences,
  accessGroupsWithoutCa,
  deleteAccessGroupCaRow,
  deleteAccessGroupRow,
  findAccessGroupCa,
  getAccessGroup,
  insertAccessGroup,
  insertAccessGroupCa,
  listAccessGroupCas,
  lockAccessGroup,
  setPrimaryCa,
  updateAccessGroupRow,
  type AccessGroupCaRow,
  type AccessGroupColumns,
  type AccessGroupRow,
} from './access-group-repository.js';
import type { AccessGroupIn, AccessGroupOut } from './access-group-schemas.js';

type Actor = Pick<Principal, 'type' | 'id' | 'name'>;

/** What the access-group use cases need from the app. */
export type AccessGroupDeps = Pick<AppContext, 'database' | 'clock' | 'installationKey'>;

/** A stored group as the API answers it; `ca_id` and `primary_ca_id` both name the CA it signs with. */
export function accessGroupObject(row: AccessGroupRow): AccessGroupOut {
  return {
    id: row.id,
    name: row.name,
    comment: row.comment,
    host_certificate_trust_anchors: row.host_certificate_trust_anchors,
    winrm_host_certificate_trust_anchors: row.winrm_host_certificate_trust_anchors,
    db_host_certificate_trust_anchors: row.db_host_certificate_trust_anchors,
    ca_id: row.primary_ca_id ?? '',
    primary_ca_id: row.primary_ca_id ?? '',
    key_type: row.key_type,
    default: row.is_default === 1,
    author: row.author,
    created: row.created,
    updated: row.updated,
    updated_by: row.updated_by,
  };
}

/** `key_type` as sent: empty or absent = `fallback`; otherwise one privgate makes (any case), else 400. */
function caKeyType(value: string | undefined, fallback: CaKeyType): CaKeyType {
  const wanted = (value ?? '').trim().toLowerCase();
  if (wanted === '') return fallback;
  const known = CA_KEY_TYPES.find((type) => type === wanted);
  if (!known) throw invalid('VALUE_OUT_OF_BOUNDS', `key_type "${value}" is not supported; privgate makes ${CA_KEY_TYPES.join(', ')} CA keys`, 'key_type');
  return known;
}

function storedKeyType(row: AccessGroupRow): CaKeyType {
  return CA_KEY_TYPES.find((type) => type === row.key_type) ?? DEFAULT_CA_KEY_TYPE;
}

function columnsOf(input: AccessGroupIn, keyType: CaKeyType): AccessGroupColumns {
  return {
    name: input.name,
    comment: input.comment ?? '',
    host_certificate_trust_anchors: input.host_certificate_trust_anchors ?? '',
    winrm_host_certificate_trust_anchors: input.winrm_host_certificate_trust_anchors ?? '',
    db_host_certificate_trust_anchors: input.db_host_certificate_trust_anchors ?? '',
    key_type: keyType,
  };
}

/** What an audit event says about a group (no certificates: they are long and public). */
function auditView(columns: AccessGroupColumns & { primary_ca_id: string | null }) {
  return { name: columns.name, comment: columns.comment, key_type: columns.key_type, primary_ca_id: columns.primary_ca_id ?? '' };
}

/** Creates a group with its first CA (its primary); audited in the same transaction. Returns its id. */
export async function createAccessGroupAs(deps: AccessGroupDeps, actor: Actor, input: AccessGroupIn): Promise<string> {
  const keyType = caKeyType(input.key_type, DEFAULT_CA_KEY_TYPE);
  const columns = columnsOf(input, keyType);
  const id = crypto.randomUUID();
  const now = deps.clock.now();
  // Key generation before the transaction: it holds no lock while the CPU works.
  const ca = await makeAccessGroupCa(deps.installationKey, id, keyType, now);
  await deps.database.db.transaction().execute(async (trx) => {
    await insertAccessGroup(trx, id, columns, actor.id, now);
    await insertAccessGroupCa(trx, ca);
    await setPrimaryCa(trx, id, ca.id, false);
    await recordAuditEvent(trx, {
      type: 'access_group_created',
      outcome: 'success',
      principal: actor,
      objectType: 'access-group',
      objectId: id,
      details: { after: auditView({ ...columns, primary_ca_id: ca.id }) },
      at: now,
    });
  });
  return id;
}

/**
 * Updates a group. Server fields sent back are ignored; an empty `key_type` or `primary_ca_id`
 * keeps the stored one; a `primary_ca_id` must name one of the group's CAs (400). Audited.
 */
export async function updateAccessGroupAs(deps: AccessGroupDeps, actor: Actor, id: string, input: AccessGroupIn): Promise<void> {
  const now = deps.clock.now();
  await deps.database.db.transaction().execute(async (trx) => {
    const before = await lockAccessGroup(trx, id);
    if (!before) throw notFound('access group');
    const columns = columnsOf(input, caKeyType(input.key_type, storedKeyType(before)));
    let primary = before.primary_ca_id;
    const wanted = (input.primary_ca_id ?? '').trim();
    if (wanted !== '' && wanted !== primary) {
      const ca = await findAccessGroupCa(trx, wanted);
      if (!ca || ca.access_group_id !== id) throw invalid('INVALID_REQUEST_DATA', 'primary_ca_id must name a CA of this access group', 'primary_ca_id');
      primary = ca.id;
    }
    await updateAccessGroupRow(trx, id, { ...columns, primary_ca_id: primary }, actor.id, now);
    await recordAuditEvent(trx, {
      type: 'access_group_updated',
      outcome: 'success',
      principal: actor,
      objectType: 'access-group',
      objectId: id,
      details: { before: auditView(before), after: auditView({ ...columns, primary_ca_id: primary }) },
      at: now,
    });
  });
}

/**
 * Deletes a group and its CAs. The default group cannot be deleted (400); a group that hosts or
 * trusted clients still belong to is 409 CONFLICT, naming how many of each. Audited.
 */
export async function deleteAccessGroupAs(deps: AccessGroupDeps, actor: Actor, id: string): Promise<void> {
  const now = deps.clock.now();
  await deps.database.db.transaction().execute(async (trx) => {
    const before = await lockAccessGroup(trx, id);
    if (!before) throw notFound('access group');
    if (before.is_default === 1) throw new PrivxError(400, 'INVALID_REQUEST_DATA', 'the default access group cannot be deleted', { property: 'id' });
    const references = await accessGroupReferences(trx, id);
    const kinds = Object.entries(references);
    if (kinds.length > 0) {
      const listed = kinds.map(([kind, count]) => `${count} ${kind.replace('_', ' ')}`).join(', ');
      throw new PrivxError(409, 'CONFLICT', `the access group is still in use (${listed}); move them to another group first`, { property: 'id' });
    }
    await deleteAccessGroupRow(trx, id);
    await recordAuditEvent(trx, {
      type: 'access_group_deleted',
      outcome: 'success',
      principal: actor,
      objectType: 'access-group',
      objectId: id,
      details: { before: auditView(before) },
      at: now,
    });
  });
}

/**
 * Adds a new CA key to a group (`key_type` empty = the group's); it does not become primary until
 * the group is updated with it as `primary_ca_id`, as in PrivX. Audited. Returns the CA's id.
 */
export async function renewAccessGroupCaAs(deps: AccessGroupDeps, actor: Actor, groupId: string, keyTypeInput: string | undefined): Promise<string> {
  const group = await getAccessGroup(deps.database.db, groupId);
  const keyType = caKeyType(keyTypeInput, storedKeyType(group));
  const now = deps.clock.now();
  const ca = await makeAccessGroupCa(deps.installationKey, groupId, keyType, now);
  await deps.database.db.transaction().execute(async (trx) => {
    // Deleted meanwhile: nothing to add to.
    if (!(await lockAccessGroup(trx, groupId))) throw notFound('access group');
    await insertAccessGroupCa(trx, ca);
    await recordAuditEvent(trx, {
      type: 'access_group_ca_created',
      outcome: 'success',
      principal: actor,
      objectType: 'access-group',
      objectId: groupId,
      details: { ca_id: ca.id, key_type: keyType },
      at: now,
    });
  });
  return ca.id;
}

/** Removes one of a group's CA keys; 404 when it is not the group's, 409 when it is the primary one. Audited. */
export async function revokeAccessGroupCaAs(deps: AccessGroupDeps, actor: Actor, groupId: string, caId: string): Promise<void> {
  const now = deps.clock.now();
  await deps.database.db.transaction().execute(async (trx) => {
    const group = await lockAccessGroup(trx, groupId);
    if (!group) throw notFound('access group');
    const ca = await findAccessGroupCa(trx, caId);
    if (!ca || ca.access_group_id !== groupId) throw notFound('CA of the access group', 'ca_id');
    if (group.primary_ca_id === ca.id) {
      throw new PrivxError(409, 'CONFLICT', 'this is the access group’s primary CA; make another CA primary first', { property: 'ca_id' });
    }
    await deleteAccessGroupCaRow(trx, ca.id);
    await recordAuditEvent(trx, {
      type: 'access_group_ca_deleted',
      outcome: 'success',
      principal: actor,
      objectType: 'access-group',
      objectId: groupId,
      details: { ca_id: ca.id },
      at: now,
    });
  });
}

/**
 * Gives every group without a CA its first one (the default group, made by a migration, which has
 * no installation key). Run at start; nodes starting together make one each, and only the first
 * to commit keeps its own.
 */
export async function ensureAccessGroupCas(deps: AccessGroupDeps): Promise<void> {
  const db = deps.database.db;
  for (const groupId of await accessGroupsWithoutCa(db)) {
    const now = deps.clock.now();
    const ca = await makeAccessGroupCa(deps.installationKey, groupId, DEFAULT_CA_KEY_TYPE, now);
    await db.transaction().execute(async (trx) => {
      const group = await lockAccessGroup(trx, groupId);
      if (!group || group.primary_ca_id !== null) return;
      await insertAccessGroupCa(trx, ca);
      await setPrimaryCa(trx, groupId, ca.id, true);
    });
  }
}

/** CAs of every group, or of one (`accessGroupId`); `valid` (the default) leaves out expired ones. */
export async function listAccessGroupCasFor(db: Kysely<Tables>, accessGroupId: string | undefined, filter: 'valid' | 'include_invalid' | 'all', now: Date): Promise<AccessGroupCaRow[]> {
  const rows = await listAccessGroupCas(db, accessGroupId);
  if (filter !== 'valid') return rows;
  // Validity is in the certificate; the few CAs a group has make parsing each cheap.
  return rows.filter((row) => describeCertificate(row.certificate_pem).notAfter > now);
}

/** One group CA (any group); 404 when unknown. */
export async function accessGroupCa(db: Kysely<Tables>, id: string): Promise<AccessGroupCaRow> {
  const ca = await findAccessGroupCa(db, id);
  if (!ca) throw notFound('CA');
  return ca;
}

/** How long a group CA's CRL is declared valid. */
const CRL_VALIDITY_SECONDS = 24 * 3600;

/**
 * The CRL of a group CA (DER and PEM), signed with its sealed key; 404 when unknown. It lists no
 * certificate yet: the target certificates a group CA will issue (SSH gateway) are short-lived.
 */
export async function accessGroupCaCrl(deps: AccessGroupDeps, id: string): Promise<{ der: Buffer; pem: string }> {
  const ca = await accessGroupCa(deps.database.db, id);
  const now = deps.clock.now();
  const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
  return createCertificateRevocationList({
    ca: { certificatePem: ca.certificate_pem, privateKeyPem: deps.installationKey.openText(ca.private_key_sealed, privateKeyContext(ca.id)) },
    revoked: [],
    thisUpdate,
    nextUpdate: addSeconds(thisUpdate, CRL_VALIDITY_SECONDS),
    crlNumber: now.getTime(),
  });
}

/**
 * The access group a host or trusted client joins: empty or absent = the default group, otherwise
 * one that exists (400 naming `property`). Locks the group for the caller's transaction so it
 * cannot be deleted before the reference commits.
 */
export async function joinAccessGroup(trx: Kysely<Tables>, id: string | null | undefined, property = 'access_group_id'): Promise<string> {
  const wanted = (id ?? '').trim() || DEFAULT_ACCESS_GROUP_ID;
  if (!(await lockAccessGroup(trx, wanted))) throw invalid('INVALID_REQUEST_DATA', `access group "${wanted}" does not exist`, property);
  return wanted;
}
