import crypto from 'node:crypto';
import { sql, type Kysely, type Selectable, type SqlBool, type Transaction } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { isUniqueViolation } from '../../db/index.js';
import { duplicate, notFound, PrivxError } from '../../errors.js';
import { timestamp } from '../../lib/time.js';
import { roleRefsOf, setRoles, type RoleRef } from '../role-store/repository.js';

/** A `{key, value}` pair of a user's `attributes`. */
export interface UserAttribute {
  key: string;
  value: string;
}

/** PrivX LocalUser texts besides the username ('' = unset). */
export const USER_TEXT_FIELDS = [
  'email',
  'full_name',
  'comment',
  'display_name',
  'first_name',
  'last_name',
  'job_title',
  'company',
  'department',
  'telephone',
  'locale',
  'unix_account',
  'windows_account',
] as const;
export type UserTextField = (typeof USER_TEXT_FIELDS)[number];

/** What a PUT replaces as a whole (a field left out is cleared, as PrivX does). */
export type UserProfile = Record<UserTextField, string> & {
  tags: string[];
  attributes: UserAttribute[];
  password_change_required: boolean;
};

export interface User extends UserProfile {
  id: string;
  username: string;
  disabled: boolean;
  builtin: boolean;
  roles: RoleRef[];
  /** Write-only on the wire: only when it was set is ever read back. */
  password: { created?: string };
  created: string;
  updated: string;
  updated_by: string;
  author: string;
}

/**
 * A create or update. Profile fields left out are empty (create) or cleared (update); `disabled`
 * and `roles` — privgate's own fields, which PrivX clients never send — keep their value when
 * left out, so an SDK's PUT neither enables an account nor drops its roles.
 */
export type UserInput = Partial<UserProfile> & {
  username: string;
  disabled?: boolean | undefined;
  roles?: Array<{ id: string }> | null | undefined;
};

/** Runs `work` in the caller's transaction when there is one, else in a new one. */
function atomically<T>(db: Kysely<Tables>, work: (trx: Kysely<Tables>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute((trx: Transaction<Tables>) => work(trx));
}

const USER_COLUMNS = [
  'id',
  'username',
  ...USER_TEXT_FIELDS,
  'tags',
  'attributes',
  'password_change_required',
  'password_created',
  'disabled',
  'builtin',
  'created',
  'updated',
  'updated_by',
  'author',
] as const;

type UserRow = Pick<Selectable<Tables['users']>, (typeof USER_COLUMNS)[number]>;

function toUser(row: UserRow, roles: RoleRef[]): User {
  const { tags, attributes, password_change_required, password_created, disabled, builtin, ...rest } = row;
  return {
    ...rest,
    tags: JSON.parse(tags) as string[],
    attributes: JSON.parse(attributes) as UserAttribute[],
    password_change_required: password_change_required === 1,
    password: password_created === null ? {} : { created: password_created },
    disabled: disabled === 1,
    builtin: builtin === 1,
    roles,
  };
}

/** The profile columns of an input: what is left out is empty. */
function profileColumns(input: Partial<UserProfile>) {
  const texts = Object.fromEntries(USER_TEXT_FIELDS.map((field) => [field, input[field] ?? ''])) as Record<UserTextField, string>;
  return {
    ...texts,
    tags: JSON.stringify([...new Set(input.tags ?? [])]),
    attributes: JSON.stringify((input.attributes ?? []).map(({ key, value }) => ({ key, value }))),
    password_change_required: input.password_change_required ? 1 : 0,
  };
}

/** Sort keys of the user list. */
export const USER_SORT_KEYS = ['username', 'created', 'updated', 'full_name', 'email'] as const;
export type UserSortKey = (typeof USER_SORT_KEYS)[number];

/** Which users a list or search returns; every field given narrows it. */
export interface UserFilter {
  /** Exact ids (`?id=` of the list, `user_id` of the search). */
  ids?: readonly string[] | undefined;
  /** Exact username. */
  username?: string | undefined;
  /** Words that must each occur (case-insensitively) in the username, a name or the email. */
  keywords?: readonly string[] | undefined;
}

export interface UserPage {
  offset: number;
  limit: number;
  sortkey: UserSortKey;
  descending: boolean;
}

/** Columns a keyword may match. */
const KEYWORD_COLUMNS = ['username', 'full_name', 'display_name', 'first_name', 'last_name', 'email'] as const;

function likePattern(word: string): string {
  return `%${word.toLowerCase().replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
}

export async function listUsers(db: Kysely<Tables>, filter: UserFilter, page: UserPage): Promise<{ count: number; items: User[] }> {
  let query = db.selectFrom('users');
  if (filter.ids) query = filter.ids.length === 0 ? query.where(sql<SqlBool>`1 = 0`) : query.where('id', 'in', filter.ids);
  if (filter.username !== undefined) query = query.where('username', '=', filter.username);
  for (const word of filter.keywords ?? []) {
    const pattern = likePattern(word);
    query = query.where((eb) => eb.or(KEYWORD_COLUMNS.map((column) => sql<SqlBool>`lower(${eb.ref(column)}) like ${pattern} escape '\\'`)));
  }
  const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const direction = page.descending ? 'desc' : 'asc';
  const rows = await query.select(USER_COLUMNS).orderBy(page.sortkey, direction).orderBy('id', direction).offset(page.offset).limit(page.limit).execute();
  const roles = await roleRefsOf(db, 'user', rows.map((row) => row.id));
  return { count: Number(total.n), items: rows.map((row) => toUser(row, roles.get(row.id) ?? [])) };
}

/** The distinct tags of all users, sorted; `query` keeps those containing it (case-insensitively). */
export async function listUserTags(db: Kysely<Tables>, query: string | undefined, offset: number, limit: number, descending: boolean): Promise<{ count: number; items: string[] }> {
  const rows = await db.selectFrom('users').select('tags').where('tags', '!=', '[]').execute();
  const needle = query?.toLowerCase();
  const tags = [...new Set(rows.flatMap((row) => JSON.parse(row.tags) as string[]))].filter((tag) => needle === undefined || tag.toLowerCase().includes(needle)).sort();
  if (descending) tags.reverse();
  return { count: tags.length, items: tags.slice(offset, offset + limit) };
}

export async function getUser(db: Kysely<Tables>, id: string): Promise<User> {
  const row = await db.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound('user');
  const roles = await roleRefsOf(db, 'user', [id]);
  return toUser(row, roles.get(id) ?? []);
}

/** Creates a user; `passwordHash` comes from {@link hashPassword} (hashed before any transaction: scrypt is slow). */
export async function createUser(db: Kysely<Tables>, input: UserInput, passwordHash: string | null, author: string, now: Date): Promise<string> {
  const id = crypto.randomUUID();
  const at = timestamp(now);
  try {
    await atomically(db, async (trx) => {
      await trx
        .insertInto('users')
        .values({
          id,
          username: input.username,
          ...profileColumns(input),
          password_hash: passwordHash,
          password_created: passwordHash === null ? null : at,
          disabled: input.disabled ? 1 : 0,
          builtin: 0,
          created: at,
          updated: at,
          updated_by: '',
          author,
        })
        .execute();
      if (input.roles) await setRoles(trx, 'user', id, input.roles.map((role) => role.id), now);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('username', `username "${input.username}" is taken`);
    throw error;
  }
  return id;
}

/**
 * Updates a user: the profile is replaced, `disabled` and `roles` change only when given, and the
 * password only when `passwordHash` is. Returns the previous state (for audit and revocation).
 */
export async function updateUser(db: Kysely<Tables>, id: string, input: UserInput, passwordHash: string | null, updatedBy: string, now: Date): Promise<User> {
  const existing = await getUser(db, id);
  if (existing.builtin && input.username !== existing.username) {
    throw new PrivxError(400, 'INVALID_REQUEST_DATA', 'the built-in admin cannot be renamed', { property: 'username' });
  }
  const at = timestamp(now);
  try {
    await atomically(db, async (trx) => {
      await trx
        .updateTable('users')
        .set({
          username: input.username,
          ...profileColumns(input),
          ...(passwordHash === null ? {} : { password_hash: passwordHash, password_created: at }),
          disabled: (input.disabled ?? existing.disabled) ? 1 : 0,
          updated: at,
          updated_by: updatedBy,
        })
        .where('id', '=', id)
        .execute();
      if (input.roles) await setRoles(trx, 'user', id, input.roles.map((role) => role.id), now);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('username', `username "${input.username}" is taken`);
    throw error;
  }
  return existing;
}

export async function setUserPassword(db: Kysely<Tables>, id: string, passwordHash: string, updatedBy: string, now: Date): Promise<void> {
  await getUser(db, id);
  const at = timestamp(now);
  await db.updateTable('users').set({ password_hash: passwordHash, password_created: at, updated: at, updated_by: updatedBy }).where('id', '=', id).execute();
}

/** Records who changed a user's roles elsewhere (role-store). */
export async function touchUser(db: Kysely<Tables>, id: string, updatedBy: string, now: Date): Promise<void> {
  await db.updateTable('users').set({ updated: timestamp(now), updated_by: updatedBy }).where('id', '=', id).execute();
}

export async function deleteUser(db: Kysely<Tables>, id: string): Promise<User> {
  const existing = await getUser(db, id);
  if (existing.builtin) throw new PrivxError(400, 'INVALID_REQUEST_DATA', 'the built-in admin cannot be deleted', { property: 'id' });
  await atomically(db, async (trx) => {
    await trx.deleteFrom('role_members').where('principal_type', '=', 'user').where('principal_id', '=', id).execute();
    await trx.deleteFrom('users').where('id', '=', id).execute();
  });
  return existing;
}
