import crypto from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { isUniqueViolation } from '../../db/index.js';
import { duplicate, notFound, PrivxError } from '../../errors.js';
import { timestamp } from '../../lib/time.js';
import { roleRefsOf, setRoles, type RoleRef } from '../role-store/repository.js';

export interface User {
  id: string;
  username: string;
  email: string;
  full_name: string;
  disabled: boolean;
  builtin: boolean;
  roles: RoleRef[];
  created: string;
  updated: string;
  author: string;
}

export interface UserInput {
  username: string;
  email?: string | undefined;
  full_name?: string | undefined;
  disabled?: boolean | undefined;
  roles?: Array<{ id: string }> | null | undefined;
}

/** Runs `work` in the caller's transaction when there is one, else in a new one. */
function atomically<T>(db: Kysely<Tables>, work: (trx: Kysely<Tables>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute((trx: Transaction<Tables>) => work(trx));
}

type UserRow = Pick<Tables['users'], 'id' | 'username' | 'email' | 'full_name' | 'disabled' | 'builtin' | 'created' | 'updated' | 'author'>;

const USER_COLUMNS = ['id', 'username', 'email', 'full_name', 'disabled', 'builtin', 'created', 'updated', 'author'] as const;

function toUser(row: UserRow, roles: RoleRef[]): User {
  return { ...row, disabled: row.disabled === 1, builtin: row.builtin === 1, roles };
}

export async function listUsers(db: Kysely<Tables>, offset: number, limit: number, descending: boolean): Promise<{ count: number; items: User[] }> {
  const total = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const rows = await db.selectFrom('users').select(USER_COLUMNS).orderBy('username', descending ? 'desc' : 'asc').offset(offset).limit(limit).execute();
  const roles = await roleRefsOf(db, 'user', rows.map((row) => row.id));
  return { count: Number(total.n), items: rows.map((row) => toUser(row, roles.get(row.id) ?? [])) };
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
          email: input.email ?? '',
          full_name: input.full_name ?? '',
          password_hash: passwordHash,
          disabled: input.disabled ? 1 : 0,
          builtin: 0,
          created: at,
          updated: at,
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

/** Updates a user; returns the previous state (for audit and token revocation decisions). */
export async function updateUser(db: Kysely<Tables>, id: string, input: UserInput, now: Date): Promise<User> {
  const existing = await getUser(db, id);
  if (existing.builtin && input.username !== existing.username) {
    throw new PrivxError(400, 'INVALID_REQUEST_DATA', 'the built-in admin cannot be renamed', { property: 'username' });
  }
  try {
    await atomically(db, async (trx) => {
      await trx
        .updateTable('users')
        .set({
          username: input.username,
          email: input.email ?? existing.email,
          full_name: input.full_name ?? existing.full_name,
          disabled: (input.disabled ?? existing.disabled) ? 1 : 0,
          updated: timestamp(now),
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

export async function setUserPassword(db: Kysely<Tables>, id: string, passwordHash: string, now: Date): Promise<void> {
  await getUser(db, id);
  await db.updateTable('users').set({ password_hash: passwordHash, updated: timestamp(now) }).where('id', '=', id).execute();
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
