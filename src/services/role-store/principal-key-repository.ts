import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { notFound } from '../../errors.js';

/** A role principal key as the API shows it: the public half only. */
export interface PrincipalKey {
  id: string;
  public_key: string;
}

/** The role's principal keys, oldest first; 404 when the role does not exist. */
export async function listPrincipalKeys(db: Kysely<Tables>, roleId: string): Promise<PrincipalKey[]> {
  const role = await db.selectFrom('roles').select('id').where('id', '=', roleId).executeTakeFirst();
  if (!role) throw notFound('role');
  return db.selectFrom('role_principal_keys').select(['id', 'public_key']).where('role_id', '=', roleId).orderBy('created').orderBy('id').execute();
}

export async function getPrincipalKey(db: Kysely<Tables>, roleId: string, keyId: string): Promise<PrincipalKey> {
  const row = await db.selectFrom('role_principal_keys').select(['id', 'public_key']).where('role_id', '=', roleId).where('id', '=', keyId).executeTakeFirst();
  if (!row) throw notFound('principal key');
  return row;
}

export async function insertPrincipalKey(db: Kysely<Tables>, row: Tables['role_principal_keys']): Promise<void> {
  await db.insertInto('role_principal_keys').values(row).execute();
}

export async function deletePrincipalKey(db: Kysely<Tables>, roleId: string, keyId: string): Promise<PrincipalKey> {
  const key = await getPrincipalKey(db, roleId, keyId);
  await db.deleteFrom('role_principal_keys').where('role_id', '=', roleId).where('id', '=', keyId).execute();
  return key;
}

/** Where a principal key's sealed private half lives: the installation key binds it to its row. */
export function principalKeySealContext(keyId: string): string {
  return `role_principal_keys.private_key_sealed:${keyId}`;
}
