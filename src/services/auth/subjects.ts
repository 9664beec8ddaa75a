import type { Kysely } from 'kysely';
import type { AppContext } from '../../context.js';
import type { Tables } from '../../db/schema.js';
import { limitAllows, type ContextualLimit } from '../../lib/contextual-limit.js';
import { rolesOf, type MemberType } from '../role-store/repository.js';
import { isPermission, type Permission, type PrincipalType } from '../../access.js';
import { findApiClientById, findTrustedClientById, findUserById } from './repository.js';
import type { TokenSubject } from './token-service.js';

/**
 * When and from where a token is asked for. A role whose contextual limit excludes it does not
 * apply: the token carries neither the role nor its permissions.
 */
export interface ClientContext {
  at: Date;
  /** The client's address as Fastify reports `request.ip`. */
  address: string;
}

/** The token subject of a user or API client: its roles (those whose limit allows `client`) and the union of their permissions. */
export async function subjectFor(db: Kysely<Tables>, type: MemberType, id: string, name: string, client?: ClientContext): Promise<TokenSubject> {
  return subjectWithRoles(type, id, name, await rolesOf(db, type, id), client);
}

/**
 * A subject from roles already read (in role-name order); unknown permission strings are ignored.
 * With `client`, roles whose contextual limit excludes that time or address are left out.
 */
export function subjectWithRoles(
  type: MemberType,
  id: string,
  name: string,
  roles: ReadonlyArray<{ id: string; name: string; permissions: readonly string[]; context?: ContextualLimit }>,
  client?: ClientContext,
): TokenSubject {
  const applying = client ? roles.filter((role) => !role.context || limitAllows(role.context, client.at, client.address)) : roles;
  const permissions = new Set<Permission>();
  for (const role of applying) for (const permission of role.permissions) if (isPermission(permission)) permissions.add(permission);
  return { type, id, name, roles: applying.map((role) => ({ id: role.id, name: role.name })), permissions: [...permissions] };
}

/** A trusted client's token subject: it acts with the `service` scope, no roles of its own. */
export function trustedClientSubject(row: { id: string; name: string }): TokenSubject {
  return { type: 'trusted-client', id: row.id, name: row.name, roles: [], permissions: [] };
}

/** Loads a principal's current subject for a token; null when it is gone or disabled. */
export type SubjectLoader = (context: AppContext, id: string, client: ClientContext) => Promise<TokenSubject | null>;

/** Refresh: the trusted client must still exist, be enabled and registered. */
const trustedClientSubjectLoader: SubjectLoader = async (context, id) => {
  const row = await findTrustedClientById(context.database.db, id);
  if (!row || row.enabled !== 1 || row.registered !== 1) return null;
  return trustedClientSubject(row);
};

/** One loader per principal type. */
export const subjectLoaders: Partial<Record<PrincipalType, SubjectLoader>> = {
  user: async (context, id, client) => {
    const row = await findUserById(context.database.db, id);
    if (!row || row.disabled) return null;
    return subjectFor(context.database.db, 'user', row.id, row.username, client);
  },
  'api-client': async (context, id, client) => {
    const row = await findApiClientById(context.database.db, id);
    return row ? subjectFor(context.database.db, 'api-client', row.id, row.name, client) : null;
  },
  'trusted-client': trustedClientSubjectLoader,
};

export async function loadSubject(context: AppContext, type: PrincipalType, id: string, client: ClientContext): Promise<TokenSubject | null> {
  const loader = subjectLoaders[type];
  return loader ? loader(context, id, client) : null;
}
