import crypto from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { isUniqueViolation } from '../../db/index.js';
import { duplicate, notFound } from '../../errors.js';
import type { InstallationKey } from '../../installation-key.js';
import { keyedHash, randomToken } from '../../lib/secrets.js';
import { timestamp } from '../../lib/time.js';
import { roleRefsOf, setRoles, type RoleRef } from '../role-store/repository.js';

/**
 * API clients' SQL. Each secret is kept twice: a keyed hash (what the token endpoint checks, in
 * constant time) and sealed under the installation key (what GET returns to those allowed to see
 * it). Clients made before sealing existed have null sealed columns: their secrets are unknown.
 */

/** What API-client secrets are hashed and sealed with (both are on the app context). */
export interface ApiClientKeys {
  secretKey: Buffer;
  installationKey: InstallationKey;
}

export interface ApiClient {
  id: string;
  name: string;
  roles: RoleRef[];
  oauth_client_id: string;
  created: string;
  updated: string;
  updated_by: string;
  author: string;
}

/** An API client with its sealed secrets (null: made before sealing, hash only). Never leaves the service as is. */
export interface SealedApiClient extends ApiClient {
  secret_sealed: string | null;
  oauth_client_secret_sealed: string | null;
}

/** The credentials of an API client, shown at creation and rotation. */
export interface ApiClientCredentials {
  id: string;
  secret: string;
  oauth_client_id: string;
  oauth_client_secret: string;
}

export interface ApiClientInput {
  name: string;
  roles?: Array<{ id: string }> | null | undefined;
}

/** The columns lists may be sorted by (`sortkey`). */
export const API_CLIENT_SORT_KEYS = ['name', 'id', 'created', 'updated', 'author'] as const;
export type ApiClientSortKey = (typeof API_CLIENT_SORT_KEYS)[number];

export interface ApiClientListOptions {
  offset: number;
  limit: number;
  sortkey: ApiClientSortKey;
  descending: boolean;
  /** Case-insensitive substring of the name; absent or '' matches every client. */
  keywords?: string | undefined;
}

const COLUMNS = ['id', 'name', 'oauth_client_id', 'created', 'updated', 'updated_by', 'author', 'secret_sealed', 'oauth_client_secret_sealed'] as const;

/** Where each sealed secret lives: the sealing context, so a value copied to another row or column does not open. */
export const sealContext = {
  secret: (id: string) => `api_clients.secret_sealed.${id}`,
  oauthClientSecret: (id: string) => `api_clients.oauth_client_secret_sealed.${id}`,
};

function atomically<T>(db: Kysely<Tables>, work: (trx: Kysely<Tables>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute((trx: Transaction<Tables>) => work(trx));
}

function newCredentials(id: string, oauthClientId: string = crypto.randomUUID()): ApiClientCredentials {
  return { id, secret: randomToken(32), oauth_client_id: oauthClientId, oauth_client_secret: randomToken(32) };
}

/** The stored forms of a client's credentials: hashes to verify, sealed values to read back. */
function storedSecrets(keys: ApiClientKeys, credentials: ApiClientCredentials) {
  return {
    secret_hash: keyedHash(credentials.secret, keys.secretKey),
    oauth_client_secret_hash: keyedHash(credentials.oauth_client_secret, keys.secretKey),
    secret_sealed: keys.installationKey.seal(credentials.secret, sealContext.secret(credentials.id)),
    oauth_client_secret_sealed: keys.installationKey.seal(credentials.oauth_client_secret, sealContext.oauthClientSecret(credentials.id)),
  };
}

/** `%` and `_` in user text match themselves. */
function likePattern(keywords: string): string {
  return `%${keywords.toLowerCase().replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
}

export async function listApiClients(db: Kysely<Tables>, options: ApiClientListOptions): Promise<{ count: number; items: SealedApiClient[] }> {
  let base = db.selectFrom('api_clients');
  if (options.keywords) {
    const pattern = likePattern(options.keywords);
    base = base.where(sql<boolean>`lower(name) like ${pattern} escape '\\'`);
  }
  const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const direction = options.descending ? 'desc' : 'asc';
  let query = base.select(COLUMNS).orderBy(options.sortkey, direction);
  // A stable order for equal keys, so pages neither repeat nor skip a client.
  if (options.sortkey !== 'id') query = query.orderBy('id', direction);
  const rows = await query.offset(options.offset).limit(options.limit).execute();
  const roles = await roleRefsOf(db, 'api-client', rows.map((row) => row.id));
  return { count: Number(total.n), items: rows.map((row) => ({ ...row, roles: roles.get(row.id) ?? [] })) };
}

export async function getApiClient(db: Kysely<Tables>, id: string): Promise<SealedApiClient> {
  const row = await db.selectFrom('api_clients').select(COLUMNS).where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound('API client');
  const roles = await roleRefsOf(db, 'api-client', [id]);
  return { ...row, roles: roles.get(id) ?? [] };
}

export async function createApiClient(db: Kysely<Tables>, keys: ApiClientKeys, input: ApiClientInput, author: string, now: Date): Promise<ApiClientCredentials> {
  const credentials = newCredentials(crypto.randomUUID());
  const at = timestamp(now);
  try {
    await atomically(db, async (trx) => {
      await trx
        .insertInto('api_clients')
        .values({
          id: credentials.id,
          name: input.name,
          oauth_client_id: credentials.oauth_client_id,
          ...storedSecrets(keys, credentials),
          created: at,
          updated: at,
          updated_by: '',
          author,
        })
        .execute();
      if (input.roles) await setRoles(trx, 'api-client', credentials.id, input.roles.map((role) => role.id), now);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('name', `API client name "${input.name}" is taken`);
    throw error;
  }
  return credentials;
}

/** Updates name and (when given) roles; returns the previous state. */
export async function updateApiClient(db: Kysely<Tables>, id: string, input: ApiClientInput, updatedBy: string, now: Date): Promise<SealedApiClient> {
  const existing = await getApiClient(db, id);
  try {
    await atomically(db, async (trx) => {
      await trx.updateTable('api_clients').set({ name: input.name, updated: timestamp(now), updated_by: updatedBy }).where('id', '=', id).execute();
      if (input.roles) await setRoles(trx, 'api-client', id, input.roles.map((role) => role.id), now);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('name', `API client name "${input.name}" is taken`);
    throw error;
  }
  return existing;
}

/** New client secret and OAuth client secret, hashed and sealed; the old ones stop working at once. */
export async function rotateApiClientSecrets(db: Kysely<Tables>, keys: ApiClientKeys, id: string, updatedBy: string, now: Date): Promise<ApiClientCredentials> {
  const existing = await getApiClient(db, id);
  const credentials = newCredentials(id, existing.oauth_client_id);
  await db
    .updateTable('api_clients')
    .set({ ...storedSecrets(keys, credentials), updated: timestamp(now), updated_by: updatedBy })
    .where('id', '=', id)
    .execute();
  return credentials;
}

export async function deleteApiClient(db: Kysely<Tables>, id: string): Promise<SealedApiClient> {
  const existing = await getApiClient(db, id);
  await atomically(db, async (trx) => {
    await trx.deleteFrom('role_members').where('principal_type', '=', 'api-client').where('principal_id', '=', id).execute();
    await trx.deleteFrom('api_clients').where('id', '=', id).execute();
  });
  return existing;
}
