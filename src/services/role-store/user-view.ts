import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { invalid } from '../../errors.js';
import { getUser, listUsers, type User, type UserFilter, type UserPage } from '../local-user-store/repository.js';
import { holdingOfRoles } from './grant-rule.js';
import { PERMISSIONS } from '../../access.js';
import { roleRefsOf, rolesByIds, type Role } from './repository.js';

/** The id of the user directory privgate's local users come from (PrivX names each directory by id). */
export const LOCAL_SOURCE = 'local';

/** A role as the role store lists it for a user: explicit, since privgate has no mapped (implicit) roles yet. */
export interface UserRole {
  id: string;
  name: string;
  comment: string;
  permissions: string[];
  system: boolean;
  explicit: boolean;
  implicit: boolean;
}

/** The role store's view of a user (the SDK's rolestore.User): who it is, its roles and effective permissions. */
export interface RoleStoreUser {
  id: string;
  principal: string;
  source: string;
  source_type: string;
  comment: string;
  tags: string[];
  roles: UserRole[];
  attributes: Array<{ key: string; value: string }>;
  permissions: string[];
  first_name: string;
  last_name: string;
  full_name: string;
  job_title: string;
  company: string;
  department: string;
  email: string;
  telephone: string;
  locale: string;
  windows_account: string;
  unix_account: string;
  created: string;
  updated: string;
  updatedby: string;
  author: string;
}

function userRole(role: Role): UserRole {
  return { id: role.id, name: role.name, comment: role.comment, permissions: [...role.permissions], system: role.system, explicit: true, implicit: false };
}

function view(user: User, roles: Role[]): RoleStoreUser {
  const holding = holdingOfRoles(roles);
  return {
    id: user.id,
    principal: user.username,
    source: LOCAL_SOURCE,
    source_type: LOCAL_SOURCE,
    comment: user.comment,
    tags: user.tags,
    roles: roles.map(userRole),
    attributes: user.attributes,
    // privx-admin holds every permission, listed or not.
    permissions: holding.admin ? [...PERMISSIONS] : [...holding.permissions].sort(),
    first_name: user.first_name,
    last_name: user.last_name,
    full_name: user.full_name,
    job_title: user.job_title,
    company: user.company,
    department: user.department,
    email: user.email,
    telephone: user.telephone,
    locale: user.locale,
    windows_account: user.windows_account,
    unix_account: user.unix_account,
    created: user.created,
    updated: user.updated,
    updatedby: user.updated_by,
    author: user.author,
  };
}

/** The full roles of each user, in name order, with one query for the memberships and one for the roles. */
async function rolesOfUsers(db: Kysely<Tables>, users: readonly User[]): Promise<Map<string, Role[]>> {
  const refs = await roleRefsOf(db, 'user', users.map((user) => user.id));
  const byId = new Map((await rolesByIds(db, [...new Set([...refs.values()].flat().map((ref) => ref.id))])).map((role) => [role.id, role]));
  return new Map([...refs].map(([userId, userRefs]) => [userId, userRefs.flatMap((ref) => byId.get(ref.id) ?? [])]));
}

/** The roles of one user (404 for an unknown user). */
export async function userRoles(db: Kysely<Tables>, id: string): Promise<UserRole[]> {
  const user = await getUser(db, id);
  return ((await rolesOfUsers(db, [user])).get(id) ?? []).map(userRole);
}

/** `GET /role-store/api/v1/users/{id}` (404 for an unknown user). */
export async function roleStoreUser(db: Kysely<Tables>, id: string): Promise<RoleStoreUser> {
  const user = await getUser(db, id);
  return view(user, (await rolesOfUsers(db, [user])).get(id) ?? []);
}

/** At most this many search keywords: each adds a condition over six columns. */
export const MAX_SEARCH_KEYWORDS = 20;

/** The SDK's rolestore.UserSearch. */
export interface UserSearch {
  keywords?: string | undefined;
  source?: string | undefined;
  user_id?: readonly string[] | null | undefined;
}

/**
 * `POST /role-store/api/v1/users/search`: keywords split on spaces and commas, each of which must
 * match; `user_id` narrows to those ids. Local users only: another `source` finds nobody.
 */
export async function searchRoleStoreUsers(db: Kysely<Tables>, search: UserSearch, page: UserPage): Promise<{ count: number; items: RoleStoreUser[] }> {
  const keywords = [...new Set((search.keywords ?? '').split(/[\s,]+/).filter(Boolean))];
  if (keywords.length > MAX_SEARCH_KEYWORDS) throw invalid('VALUE_OUT_OF_BOUNDS', `at most ${MAX_SEARCH_KEYWORDS} keywords`, 'keywords');
  if (search.source !== undefined && search.source !== '' && search.source !== LOCAL_SOURCE) return { count: 0, items: [] };
  const filter: UserFilter = { keywords, ids: search.user_id && search.user_id.length > 0 ? search.user_id : undefined };
  const { count, items } = await listUsers(db, filter, page);
  const roles = await rolesOfUsers(db, items);
  return { count, items: items.map((user) => view(user, roles.get(user.id) ?? [])) };
}
