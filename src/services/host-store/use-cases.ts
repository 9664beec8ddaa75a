import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import type { Clock } from '../../lib/time.js';
import type { Principal } from '../../access.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { joinAccessGroup } from '../authorizer/access-group-use-cases.js';
import { toHostDocument, type HostDocument } from './host-document.js';
import { bumpPolicyVersion } from './policy-version-repository.js';
import { insertHost, lockHost, removeHost, replaceHost } from './repository.js';
import type { HostIn } from './schemas.js';

/** What a host-store use case needs from the app. */
export interface HostStoreDeps {
  db: Kysely<Tables>;
  clock: Clock;
}

type Actor = Pick<Principal, 'type' | 'id' | 'name'>;

/** Puts the host in its access group (empty = the default group; one that does not exist is 400). */
async function joinGroup(trx: Kysely<Tables>, document: HostDocument): Promise<void> {
  const sent = document.access_group_id;
  document.access_group_id = await joinAccessGroup(trx, typeof sent === 'string' ? sent : undefined);
}

/** Stores a new host; audited (host_created) and policy-versioned in the same transaction. Returns its id. */
export async function createHostAs(deps: HostStoreDeps, actor: Actor, input: HostIn): Promise<string> {
  const document = toHostDocument(input);
  const id = crypto.randomUUID();
  const at = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await joinGroup(trx, document);
    await insertHost(trx, id, document, { principal: actor, at });
    await bumpPolicyVersion(trx);
    await recordAuditEvent(trx, { type: 'host_created', outcome: 'success', principal: actor, objectType: 'host', objectId: id, details: { after: document }, at });
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
    await replaceHost(trx, id, document, { principal: actor, at });
    await bumpPolicyVersion(trx);
    await recordAuditEvent(trx, { type: 'host_updated', outcome: 'success', principal: actor, objectType: 'host', objectId: id, details: { before, after: document }, at });
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
