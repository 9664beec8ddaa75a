import crypto, { type KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { generateSigningKey } from '../../lib/jwt.js';
import { addSeconds, timestamp } from '../../lib/time.js';

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

  constructor(
    private readonly db: Kysely<Tables>,
    private readonly maxTokenLifetimeSeconds: number,
  ) {}

  /** Loads keys from the database, creating the first one on a new installation. */
  async load(now: Date): Promise<void> {
    let rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created', 'desc').execute();
    if (!rows.some((row) => row.retired === null)) {
      await this.insertNewKey(now);
      rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created', 'desc').execute();
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
    const rows = await this.db.selectFrom('signing_keys').select(['public_jwk']).orderBy('created', 'desc').execute();
    return rows.map((row) => JSON.parse(row.public_jwk) as Record<string, string>);
  }

  /** Retires the signing key, starts a new one, and forgets keys whose tokens have all expired. */
  async rotate(now: Date): Promise<string> {
    const kid = await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('signing_keys').set({ retired: timestamp(now) }).where('retired', 'is', null).execute();
      await trx
        .deleteFrom('signing_keys')
        .where('retired', '<', timestamp(addSeconds(now, -this.maxTokenLifetimeSeconds)))
        .execute();
      return this.insertNewKey(now, trx);
    });
    await this.load(now);
    return kid;
  }

  private async insertNewKey(now: Date, db: Kysely<Tables> = this.db): Promise<string> {
    const key = generateSigningKey();
    await db
      .insertInto('signing_keys')
      .values({ kid: key.kid, private_key_pem: key.privateKeyPem, public_jwk: JSON.stringify(key.publicJwk), created: timestamp(now), retired: null })
      .execute();
    return key.kid;
  }
}
