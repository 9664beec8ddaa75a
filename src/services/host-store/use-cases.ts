import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import type { Clock } from '../../lib/time.js';
import type { Principal } from '../../access.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { joinAccessGroup } from '../authorizer/access-group-use-cases.js';
import { invalid, notFound, PrivxError } from '../../errors.js';
import type { InstallationKey } from '../../installation-key.js';
import { passphrasesOf, toHostDocument, whitelistReferences, type HostDocument } from './host-document.js';
import { bumpPolicyVersion } from './policy-version-repository.js';
import { passphraseSealContext, writePrincipalSecrets } from './principal-secret-repository.js';
import { findWhitelistsByIds } from './whitelist-repository.js';
import { findDeployedHostId, getHost, insertHost, lockHost, removeHost, replaceHost } from './repository.js';
import type { HostIn } from './schemas.js';

/** What a host-store use case needs from the app. */
export interface HostStoreDeps {
  db: Kysely<Tables>;
  clock: Clock;
  /** Seals principals' passphrases. */
  installationKey: Pick<InstallationKey, 'seal'>;
}

type Actor = Pick<Principal, 'type' | 'id' | 'name'>;

/** Puts the host in its access group (empty = the default group; one that does not exist is 400). */
async function joinGroup(trx: Kysely<Tables>, document: HostDocument): Promise<void> {
  const sent = document.access_group_id;
  document.access_group_id = await joinAccessGroup(trx, typeof sent === 'string' ? sent : undefined);
}

/** 400 (property: where) unless every whitelist the principals' command restrictions name exists. */
async function checkWhitelists(trx: Kysely<Tables>, document: HostDocument): Promise<void> {
  const references = whitelistReferences(document);
  if (references.length === 0) return;
  const known = new Set((await findWhitelistsByIds(trx, references.map((reference) => reference.id).filter((id) => id !== ''))).map((row) => row.id));
  const unknown = references.find((reference) => !known.has(reference.id));
  if (!unknown) return;
  if (unknown.id === '') throw invalid('REQUIRED_VALUE_MISSING', 'a whitelist grant must name a whitelist by id', unknown.property);
  throw invalid('INVALID_REQUEST_DATA', `unknown whitelist id "${unknown.id}"`, unknown.property);
}

/**
 * Seals the passphrases a body sets (each bound to the host and principal) and stores them, and
 * drops those of principals the host no longer has. Returns the principals whose passphrase was
 * set, for the audit event (names only, never the passphrase).
 */
async function storePassphrases(deps: HostStoreDeps, trx: Kysely<Tables>, id: string, document: HostDocument, input: HostIn, at: Date): Promise<string[]> {
  const sealed = new Map<string, string>();
  for (const [principal, passphrase] of passphrasesOf(input)) sealed.set(principal, deps.installationKey.seal(passphrase, passphraseSealContext(id, principal)));
  await writePrincipalSecrets(trx, id, document.principals.map((principal) => principal.principal), sealed, at);
  return [...sealed.keys()];
}

/** `passphrases_set` for an audit event's details when some were set. */
function passphraseDetails(set: string[]): { passphrases_set?: string[] } {
  return set.length > 0 ? { passphrases_set: set } : {};
}

/** Stores a new host; audited (host_created) and policy-versioned in the same transaction. Returns its id. */
export async function createHostAs(deps: HostStoreDeps, actor: Actor, input: HostIn): Promise<string> {
  const document = toHostDocument(input);
  const id = crypto.randomUUID();
  const at = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await joinGroup(trx, document);
    await checkWhitelists(trx, document);
    await insertHost(trx, id, document, { principal: actor, at });
    const set = await storePassphrases(deps, trx, id, document, input, at);
    await bumpPolicyVersion(trx);
    await recordAuditEvent(trx, { type: 'host_created', outcome: 'success', principal: actor, objectType: 'host', objectId: id, details: { after: document, ...passphraseDetails(set) }, at });
  });
  return id;
}

/** Replaces a host's document; audited (host_updated, before → after) and policy-versioned in the same transaction. */
export async function updateHostAs(deps: HostStoreDeps, actor: Actor, id: string, input: HostIn): Promise<void> {
  const document = toHostDocument(input);
  const at = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    const before = await lockHost(trx, id);
    await joinGroup(trx, document);
    await checkWhitelists(trx, document);
    await replaceHost(trx, id, document, { principal: actor, at });
    const set = await storePassphrases(deps, trx, id, document, input, at);
    await bumpPolicyVersion(trx);
    await recordAuditEvent(trx, { type: 'host_updated', outcome: 'success', principal: actor, objectType: 'host', objectId: id, details: { before, after: document, ...passphraseDetails(set) }, at });
  });
}

/** Deletes a host; audited (host_deleted) and policy-versioned in the same transaction. */
export async function deleteHostAs(deps: HostStoreDeps, actor: Actor, id: string): Promise<void> {
  const at = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    const before = await lockHost(trx, id);
    await removeHost(trx, id);
    await bumpPolicyVersion(trx);
    await recordAuditEvent(trx, { type: 'host_deleted', outcome: 'success', principal: actor, objectType: 'host', objectId: id, details: { before }, at });
  });
}

/**
 * Changes one field of a host (`PUT /hosts/{id}/deployable`, `/disabled`); audited (host_updated,
 * before → after, `change` names the field) and policy-versioned in the same transaction.
 */
async function changeHostField(
  deps: HostStoreDeps,
  actor: Actor,
  id: string,
  change: 'deployable' | 'disabled',
  patch: { deployable: boolean } | { disabled: string },
): Promise<void> {
  const at = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    const before = await lockHost(trx, id);
    const after: HostDocument = { ...before, ...patch };
    await replaceHost(trx, id, after, { principal: actor, at });
    await bumpPolicyVersion(trx);
    await recordAuditEvent(trx, { type: 'host_updated', outcome: 'success', principal: actor, objectType: 'host', objectId: id, details: { change, before, after }, at });
  });
}

/** Marks a host deployable or not: whether `POST /hosts/deploy` may update it. */
export async function setHostDeployableAs(deps: HostStoreDeps, actor: Actor, id: string, deployable: boolean): Promise<void> {
  await changeHostField(deps, actor, id, 'deployable', { deployable });
}

/** Disables ("TRUE") or enables ("FALSE") a host. */
export async function setHostDisabledAs(deps: HostStoreDeps, actor: Actor, id: string, disabled: boolean): Promise<void> {
  await changeHostField(deps, actor, id, 'disabled', { disabled: disabled ? 'TRUE' : 'FALSE' });
}

/**
 * A host registering itself (`POST /hosts/deploy`). The host its external_id, instance_id or
 * common_name names (in that order) is updated with the non-empty fields sent — when it is deployable, else
 * 409 CONFLICT; with none, a new deployable host is created. Audited (host_created or
 * host_updated, with `deploy: true`) and policy-versioned in the same transaction.
 */
export async function deployHostAs(deps: HostStoreDeps, actor: Actor, input: HostIn): Promise<{ id: string; action: 'created' | 'updated' }> {
  const sent = toHostDocument(input);
  const at = deps.clock.now();
  return deps.db.transaction().execute(async (trx) => {
    const existing = await findDeployedHostId(trx, sent);
    if (existing === undefined) {
      const document: HostDocument = { ...sent, deployable: true };
      const id = crypto.randomUUID();
      await joinGroup(trx, document);
      await checkWhitelists(trx, document);
      await insertHost(trx, id, document, { principal: actor, at });
      const set = await storePassphrases(deps, trx, id, document, input, at);
      await bumpPolicyVersion(trx);
      await recordAuditEvent(trx, { type: 'host_created', outcome: 'success', principal: actor, objectType: 'host', objectId: id, details: { deploy: true, after: document, ...passphraseDetails(set) }, at });
      return { id, action: 'created' as const };
    }
    const before = await lockHost(trx, existing);
    if (before.deployable !== true) throw new PrivxError(409, 'CONFLICT', 'the host exists and is not deployable (PUT /hosts/{id}/deployable)');
    // The fields the deployment sent replace the stored ones; the others stay. An empty value
    // ("", null, []) is not sent: the Go SDK sends every field of its struct, most at zero values.
    const document: HostDocument = { ...before };
    for (const [key, value] of Object.entries(input)) {
      const empty = value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0);
      if (!empty && key in sent) document[key] = sent[key];
    }
    document.deployable = true;
    await joinGroup(trx, document);
    await checkWhitelists(trx, document);
    await replaceHost(trx, existing, document, { principal: actor, at });
    const set = await storePassphrases(deps, trx, existing, document, input, at);
    await bumpPolicyVersion(trx);
    await recordAuditEvent(trx, { type: 'host_updated', outcome: 'success', principal: actor, objectType: 'host', objectId: existing, details: { deploy: true, before, after: document, ...passphraseDetails(set) }, at });
    return { id: existing, action: 'updated' as const };
  });
}

/**
 * Deletes a host's session host certificates. privgate issues none yet, so there is nothing to
 * delete: 404 for an unknown host, else done (nothing changes, nothing is audited).
 */
export async function deleteSessionHostCertificatesAs(deps: HostStoreDeps, _actor: Actor, hostId: string): Promise<void> {
  await getHost(deps.db, hostId);
}

/** Deletes one session host certificate: privgate issues none yet, so always 404 (for the host when it is unknown). */
export async function deleteSessionHostCertificateAs(deps: HostStoreDeps, _actor: Actor, hostId: string, _certificateId: string): Promise<never> {
  await getHost(deps.db, hostId);
  throw notFound('session host certificate', 'certificate_id');
}
