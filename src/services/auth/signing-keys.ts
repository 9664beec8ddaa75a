import crypto, { type KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { generateSigningKey } from '../../lib/jwt.js';
import { addSeconds, timestamp } from '../../lib/time.js';
import { deleteSigningKeysRetiredBefore, insertSigningKey, retireSigningKeys, selectPublicJwks, selectSigningKeys } from './repository.js';

/**
 * Least time between two reloads caused by tokens whose `kid` is unknown. Such a token carries
 * either a key another node has just started (a rotation) or garbage; unbounded, garbage kids made
 * every such request read every key from the database. One reload per 5 s per node is nothing for
 * the database, while a key rotated elsewhere is still picked up by the first token that carries it
 * — unless this node reloaded for an unknown kid in the 5 s before the rotation, in which case
 * that token is refused and one at most 5 s later is accepted.
 */
export const UNKNOWN_KID_RELOAD_INTERVAL_MS = 5_000;

export interface ActiveSigningKey {
  kid: string;
  privateKey: KeyObject;
}

/**
 * The ES256 keys tokens are signed with, kept in the database so every node and every restart
 * accepts them. The newest unretired key signs; retired keys still verify until their last token
 * has expired, then a rotation deletes them.
 */
export class SigningKeyStore {
  #verifying = new Map<string, KeyObject>();
  #current: ActiveSigningKey | undefined;
  /** When the last reload for an unknown kid started (ms since the epoch, the app clock's time). */
  #unknownKidReloadAt = Number.NEGATIVE_INFINITY;
  /** That reload while it runs: concurrent callers wait for it rather than start their own. */
  #unknownKidReload: Promise<void> | undefined;

  constructor(
    private readonly db: Kysely<Tables>,
    private readonly maxTokenLifetimeSeconds: number,
  ) {}

  /** Loads keys from the database, creating the first one on a new installation. */
  async load(now: Date): Promise<void> {
    let rows = await selectSigningKeys(this.db);
    if (!rows.some((row) => row.retired === null)) {
      await this.insertNewKey(now);
      rows = await selectSigningKeys(this.db);
    }
    const verifying = new Map<string, KeyObject>();
    let current: ActiveSigningKey | undefined;
    for (const row of rows) {
      const privateKey = crypto.createPrivateKey(row.private_key_pem);
      verifying.set(row.kid, crypto.createPublicKey(privateKey));
      if (!current && row.retired === null) current = { kid: row.kid, privateKey };
    }
    this.#verifying = verifying;
    this.#current = current;
  }

  /**
   * Reloads the keys for a token whose kid is unknown, at most once per `intervalMs`: within it the
   * keys in memory answer. Callers arriving while a reload runs share it.
   */
  async reloadAtMostEvery(now: Date, intervalMs: number = UNKNOWN_KID_RELOAD_INTERVAL_MS): Promise<void> {
    if (this.#unknownKidReload) return this.#unknownKidReload;
    // `now` before the last reload (a clock set back) also allows one, so a stuck clock cannot block reloads for good.
    const elapsed = now.getTime() - this.#unknownKidReloadAt;
    if (elapsed >= 0 && elapsed < intervalMs) return;
    this.#unknownKidReloadAt = now.getTime();
    const reload = this.load(now).finally(() => {
      this.#unknownKidReload = undefined;
    });
    this.#unknownKidReload = reload;
    return reload;
  }

  /** Public keys by kid, for verification. */
  get verifyingKeys(): ReadonlyMap<string, KeyObject> {
    return this.#verifying;
  }

  get current(): ActiveSigningKey {
    if (!this.#current) throw new Error('signing keys not loaded');
    return this.#current;
  }

  /** JWKS documents: every key still accepted. */
  async publicJwks(): Promise<Array<Record<string, string>>> {
    const jwks = await selectPublicJwks(this.db);
    return jwks.map((jwk) => JSON.parse(jwk) as Record<string, string>);
  }

  /** Retires the signing key, starts a new one, and forgets keys whose tokens have all expired. */
  async rotate(now: Date): Promise<string> {
    const kid = await this.db.transaction().execute(async (trx) => {
      await retireSigningKeys(trx, timestamp(now));
      await deleteSigningKeysRetiredBefore(trx, timestamp(addSeconds(now, -this.maxTokenLifetimeSeconds)));
      return this.insertNewKey(now, trx);
    });
    await this.load(now);
    return kid;
  }

  private async insertNewKey(now: Date, db: Kysely<Tables> = this.db): Promise<string> {
    const key = await generateSigningKey();
    await insertSigningKey(db, { kid: key.kid, private_key_pem: key.privateKeyPem, public_jwk: JSON.stringify(key.publicJwk), created: timestamp(now), retired: null });
    return key.kid;
  }
}
