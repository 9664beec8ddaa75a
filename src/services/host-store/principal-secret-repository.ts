import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { timestamp } from '../../lib/time.js';

/**
 * The seal context of a host principal's passphrase: table, column, host id and principal, so a
 * sealed passphrase copied to another host or principal does not open.
 */
export function passphraseSealContext(hostId: string, principal: string): string {
  return `host_principal_secrets.passphrase_sealed ${JSON.stringify([hostId, principal])}`;
}

/**
 * Keeps a host's stored passphrases in step with its principals: rows of principals the host no
 * longer has are deleted; each of `sealed` (principal → sealed passphrase) replaces that
 * principal's row. The others stay as they are.
 */
export async function writePrincipalSecrets(trx: Kysely<Tables>, hostId: string, principals: readonly string[], sealed: ReadonlyMap<string, string>, now: Date): Promise<void> {
  let stale = trx.deleteFrom('host_principal_secrets').where('host_id', '=', hostId);
  if (principals.length > 0) stale = stale.where('principal', 'not in', [...principals]);
  await stale.execute();
  const updated = timestamp(now);
  for (const [principal, passphraseSealed] of sealed) {
    await trx.deleteFrom('host_principal_secrets').where('host_id', '=', hostId).where('principal', '=', principal).execute();
    await trx.insertInto('host_principal_secrets').values({ host_id: hostId, principal, passphrase_sealed: passphraseSealed, updated }).execute();
  }
}

/** Deletes every stored passphrase of a host. */
export async function deletePrincipalSecrets(trx: Kysely<Tables>, hostId: string): Promise<void> {
  await trx.deleteFrom('host_principal_secrets').where('host_id', '=', hostId).execute();
}

/** The principals of a host that have a stored passphrase. */
export async function principalsWithPassphrase(db: Kysely<Tables>, hostId: string): Promise<Set<string>> {
  const rows = await db.selectFrom('host_principal_secrets').select('principal').where('host_id', '=', hostId).execute();
  return new Set(rows.map((row) => row.principal));
}

/** A principal's sealed passphrase (open it with {@link passphraseSealContext}); undefined when it has none. */
export async function findSealedPassphrase(db: Kysely<Tables>, hostId: string, principal: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('host_principal_secrets')
    .select('passphrase_sealed')
    .where('host_id', '=', hostId)
    .where('principal', '=', principal)
    .executeTakeFirst();
  return row?.passphrase_sealed;
}
