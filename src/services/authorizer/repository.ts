import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { keyedHash, randomToken } from '../../lib/secrets.js';
import { addSeconds, timestamp } from '../../lib/time.js';

// ---------------------------------------------------------------------------------------------
// Web-proxy CA and the certificates it issued

export type CaRow = Tables['web_proxy_cas'];

/** The component CAs of one type (`ICAP`, `EXTENDER`). */
export async function listCas(db: Kysely<Tables>, type: string): Promise<CaRow[]> {
  return db.selectFrom('web_proxy_cas').selectAll().where('type', '=', type).orderBy('created', 'asc').execute();
}

/** One component CA of `type`; undefined when there is none with that id and type. */
export async function findCa(db: Kysely<Tables>, id: string, type: string): Promise<CaRow | undefined> {
  return db.selectFrom('web_proxy_cas').selectAll().where('id', '=', id).where('type', '=', type).executeTakeFirst();
}

export async function findCaBySlot(db: Kysely<Tables>, slot: string): Promise<CaRow | undefined> {
  return db.selectFrom('web_proxy_cas').selectAll().where('slot', '=', slot).executeTakeFirst();
}

/** Inserts a CA unless its slot is taken (another node won the race), then reads the slot back. */
export async function insertCaOnce(db: Kysely<Tables>, row: CaRow): Promise<CaRow> {
  await db.insertInto('web_proxy_cas').values(row).onConflict((conflict) => conflict.column('slot').doNothing()).execute();
  const stored = await findCaBySlot(db, row.slot);
  if (!stored) throw new Error('web-proxy CA vanished after insert');
  return stored;
}

/** Records an issued certificate; `revoked` records one that must never be honoured (a lost race). */
export async function recordCertificate(
  db: Kysely<Tables>,
  certificate: { serial: string; caId: string; trustedClientId: string; issued: Date; notAfter: Date; revoked?: Date },
): Promise<void> {
  await db
    .insertInto('web_proxy_certificates')
    .values({
      serial: certificate.serial,
      ca_id: certificate.caId,
      trusted_client_id: certificate.trustedClientId,
      issued: timestamp(certificate.issued),
      not_after: timestamp(certificate.notAfter),
      revoked: certificate.revoked ? timestamp(certificate.revoked) : null,
    })
    .execute();
}

/** Revokes every unrevoked certificate of a trusted client (except `keepSerial`); returns the serials. */
export async function revokeWebProxyCertificates(db: Kysely<Tables>, trustedClientId: string, now: Date, keepSerial?: string): Promise<string[]> {
  let query = db.selectFrom('web_proxy_certificates').select('serial').where('trusted_client_id', '=', trustedClientId).where('revoked', 'is', null);
  if (keepSerial !== undefined) query = query.where('serial', '!=', keepSerial);
  const rows = await query.execute();
  if (rows.length === 0) return [];
  const serials = rows.map((row) => row.serial);
  await db.updateTable('web_proxy_certificates').set({ revoked: timestamp(now) }).where('serial', 'in', serials).where('revoked', 'is', null).execute();
  return serials;
}

/** Revoked certificates of a CA that have not yet expired (expired ones need no CRL entry). */
export async function revokedCertificates(db: Kysely<Tables>, caId: string, now: Date): Promise<Array<{ serial: string; revoked: string }>> {
  const rows = await db
    .selectFrom('web_proxy_certificates')
    .select(['serial', 'revoked'])
    .where('ca_id', '=', caId)
    .where('revoked', 'is not', null)
    .where('not_after', '>', timestamp(now))
    .orderBy('revoked', 'asc')
    .execute();
  return rows.map((row) => ({ serial: row.serial, revoked: row.revoked ?? timestamp(now) }));
}

export async function certificatesOf(db: Kysely<Tables>, trustedClientId: string): Promise<Array<Tables['web_proxy_certificates']>> {
  return db.selectFrom('web_proxy_certificates').selectAll().where('trusted_client_id', '=', trustedClientId).orderBy('issued', 'asc').execute();
}

// ---------------------------------------------------------------------------------------------
// Config download sessions

/** Creates a config session; returns the session id (stored only as a keyed hash). */
export async function createConfSession(db: Kysely<Tables>, secretKey: Buffer, trustedClientId: string, now: Date, ttlSeconds: number): Promise<string> {
  const sessionId = randomToken(32);
  await db
    .insertInto('icap_conf_sessions')
    .values({
      id_hash: keyedHash(sessionId, secretKey),
      trusted_client_id: trustedClientId,
      created: timestamp(now),
      expires: timestamp(addSeconds(now, ttlSeconds)),
      used: null,
    })
    .execute();
  // Spent and expired sessions are worthless; keep the table small.
  await db.deleteFrom('icap_conf_sessions').where('expires', '<', timestamp(addSeconds(now, -ttlSeconds))).execute();
  return sessionId;
}

/**
 * Uses a config session once: true only for the single caller whose update marked it used, and
 * only when it belongs to `trustedClientId` and has not expired. Atomic on both databases and
 * across nodes (the row update is the arbiter).
 */
export async function consumeConfSession(db: Kysely<Tables>, secretKey: Buffer, trustedClientId: string, sessionId: string, now: Date): Promise<boolean> {
  const result = await db
    .updateTable('icap_conf_sessions')
    .set({ used: timestamp(now) })
    .where('id_hash', '=', keyedHash(sessionId, secretKey))
    .where('trusted_client_id', '=', trustedClientId)
    .where('used', 'is', null)
    .where('expires', '>', timestamp(now))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

// ---------------------------------------------------------------------------------------------
// Registration

/** Replaces the client's outstanding registration secret with a fresh one and returns it. */
export async function issueRegistrationSecret(db: Kysely<Tables>, secretKey: Buffer, trustedClientId: string, now: Date, ttlSeconds: number): Promise<string> {
  const secret = randomToken(32);
  await db
    .updateTable('trusted_clients')
    .set({ registration_secret_hash: keyedHash(secret, secretKey), registration_secret_expires: timestamp(addSeconds(now, ttlSeconds)) })
    .where('id', '=', trustedClientId)
    .execute();
  return secret;
}

/** What registration needs to decide about a client (hashes included; never leaves the service). */
export interface RegistrationState {
  id: string;
  name: string;
  type: string;
  enabled: boolean;
  registered: boolean;
  allowRepeatedRegistration: boolean;
  subnets: string[];
  webProxyAddress: string;
  registrationSecretHash: string | null;
  registrationSecretExpires: string | null;
}

export async function registrationState(db: Kysely<Tables>, trustedClientId: string): Promise<RegistrationState | undefined> {
  const row = await db
    .selectFrom('trusted_clients')
    .select(['id', 'name', 'type', 'enabled', 'registered', 'allow_repeated_registration', 'subnets', 'web_proxy_address', 'registration_secret_hash', 'registration_secret_expires'])
    .where('id', '=', trustedClientId)
    .executeTakeFirst();
  if (!row) return undefined;
  const subnets: unknown = JSON.parse(row.subnets);
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    enabled: row.enabled === 1,
    registered: row.registered === 1,
    allowRepeatedRegistration: row.allow_repeated_registration === 1,
    subnets: Array.isArray(subnets) ? subnets.filter((item): item is string => typeof item === 'string') : [],
    webProxyAddress: row.web_proxy_address,
    registrationSecretHash: row.registration_secret_hash,
    registrationSecretExpires: row.registration_secret_expires,
  };
}

/** The credentials a registration hands out, shown once. */
export interface RegistrationCredentials {
  oauth_client_id: string;
  oauth_client_secret: string;
  client_secret: string;
}

/**
 * Consumes the registration secret and stores new OAuth credentials, atomically: only the caller
 * whose update matched the secret hash (still unexpired, client enabled, not registered unless
 * repeated registration is allowed) gets credentials; everyone else gets undefined.
 */
export async function completeRegistration(
  db: Kysely<Tables>,
  secretKey: Buffer,
  trustedClientId: string,
  secretHash: string,
  now: Date,
): Promise<RegistrationCredentials | undefined> {
  const credentials: RegistrationCredentials = {
    oauth_client_id: crypto.randomUUID(),
    oauth_client_secret: randomToken(32),
    client_secret: randomToken(32),
  };
  const result = await db
    .updateTable('trusted_clients')
    .set({
      registered: 1,
      registration_secret_hash: null,
      registration_secret_expires: null,
      oauth_client_id: credentials.oauth_client_id,
      oauth_client_secret_hash: keyedHash(credentials.oauth_client_secret, secretKey),
      client_secret_hash: keyedHash(credentials.client_secret, secretKey),
      updated: timestamp(now),
    })
    .where('id', '=', trustedClientId)
    .where('registration_secret_hash', '=', secretHash)
    .where('registration_secret_expires', '>', timestamp(now))
    .where('enabled', '=', 1)
    .where('type', '=', 'ICAP')
    .where((eb) => eb.or([eb('registered', '=', 0), eb('allow_repeated_registration', '=', 1)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1 ? credentials : undefined;
}

// ---------------------------------------------------------------------------------------------
// Web sessions

export type WebSessionRow = Tables['web_sessions'];

export async function insertWebSession(db: Kysely<Tables>, row: WebSessionRow): Promise<void> {
  await db.insertInto('web_sessions').values(row).execute();
}

export async function findWebSession(db: Kysely<Tables>, id: string): Promise<WebSessionRow | undefined> {
  return db.selectFrom('web_sessions').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Marks a session revoked; false when it already was. */
export async function revokeWebSession(db: Kysely<Tables>, id: string, now: Date): Promise<boolean> {
  const result = await db.updateTable('web_sessions').set({ revoked: timestamp(now) }).where('id', '=', id).where('revoked', 'is', null).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * Marks every live session a principal opened revoked (part of revoking the principal); returns
 * how many were. Sessions that expired more than {@link REVOKED_SESSION_MARGIN_SECONDS} ago are
 * left alone (no proxy accepts them, even with a lagging clock); more recent ones are revoked too.
 */
export async function revokeWebSessionsOf(db: Kysely<Tables>, userType: string, userId: string, now: Date): Promise<number> {
  const result = await db
    .updateTable('web_sessions')
    .set({ revoked: timestamp(now) })
    .where('user_type', '=', userType)
    .where('user_id', '=', userId)
    .where('revoked', 'is', null)
    .where('expires', '>', timestamp(addSeconds(now, -REVOKED_SESSION_MARGIN_SECONDS)))
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** How long past expiry a revoked session stays in the policy feed (housekeeping keeps it that long too). */
export const REVOKED_SESSION_MARGIN_SECONDS = 300;

/** Ids of sessions revoked before their expiry that have not expired yet. */
export async function revokedWebSessionIds(db: Kysely<Tables>, now: Date): Promise<string[]> {
  // Listed past expiry by a margin, so a proxy whose clock lags (it allows some skew) still
  // refuses a revoked token rather than taking it for a live one.
  const rows = await db
    .selectFrom('web_sessions')
    .select('id')
    .where('revoked', 'is not', null)
    .where('expires', '>', timestamp(addSeconds(now, -REVOKED_SESSION_MARGIN_SECONDS)))
    .orderBy('id')
    .execute();
  return rows.map((row) => row.id);
}

// ---------------------------------------------------------------------------------------------
// The signing-key set the policy feed last saw

const KEYS_FINGERPRINT = 'policy_signing_keys';

/** The fingerprint of the current signing-key set (its key ids) and the one last stored, if any. */
export async function signingKeysFingerprints(db: Kysely<Tables>): Promise<{ current: string; stored: string | undefined }> {
  const [keys, stored] = await Promise.all([
    db.selectFrom('signing_keys').select('kid').orderBy('kid').execute(),
    db.selectFrom('meta').select('value').where('key', '=', KEYS_FINGERPRINT).executeTakeFirst(),
  ]);
  return { current: keys.map((key) => key.kid).join(','), stored: stored?.value };
}

/**
 * Stores `fingerprint` if the stored one is still `stored` (none: if there is none yet). Whether
 * this call made the change: of concurrent callers, exactly one does.
 */
export async function swapSigningKeysFingerprint(db: Kysely<Tables>, stored: string | undefined, fingerprint: string): Promise<boolean> {
  if (stored === undefined) {
    const result = await db.insertInto('meta').values({ key: KEYS_FINGERPRINT, value: fingerprint }).onConflict((conflict) => conflict.column('key').doNothing()).executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }
  const result = await db.updateTable('meta').set({ value: fingerprint }).where('key', '=', KEYS_FINGERPRINT).where('value', '=', stored).executeTakeFirst();
  return Number(result.numUpdatedRows ?? 0) === 1;
}
