import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import { rolesOf, type Role } from '../role-store/repository.js';
import type { Host } from './host-document.js';
import { principalsWithPassphrase } from './principal-secret-repository.js';
import { getDefaultServiceOptions, getHost } from './repository.js';
import type { ServiceOptions } from '../../lib/service-options.js';
import { findWhitelistsByIds } from './whitelist-repository.js';

/** A whitelist as the resolver hands it out: its patterns parsed. */
export interface WhitelistFacts {
  id: string;
  name: string;
  type: string;
  patterns: string[];
}

/** Everything {@link decideAccess} (access-resolver.ts) decides from, read in one place. */
export interface AccessFacts {
  host: Host;
  user: { id: string; username: string; disabled: boolean };
  /** The roles the user is a member of (every one, whatever its contextual limit). */
  roles: Role[];
  defaults: ServiceOptions;
  /** The whitelists the host's principals' command restrictions name, by id. */
  whitelists: Map<string, WhitelistFacts>;
  /** The principals of the host with a stored passphrase. */
  passphrases: Set<string>;
}

/** A local user by id, else by username; undefined when neither names one. */
export async function findAccessUser(db: Kysely<Tables>, idOrName: string): Promise<{ id: string; username: string; disabled: boolean } | undefined> {
  const byId = await db.selectFrom('users').select(['id', 'username', 'disabled']).where('id', '=', idOrName).executeTakeFirst();
  const row = byId ?? (await db.selectFrom('users').select(['id', 'username', 'disabled']).where('username', '=', idOrName).executeTakeFirst());
  return row && { id: row.id, username: row.username, disabled: Boolean(row.disabled) };
}

/** The facts of "may this user use this host": 404 for an unknown host, or (property `user`) user. */
export async function readAccessFacts(db: Kysely<Tables>, hostId: string, user: string): Promise<AccessFacts> {
  const host = await getHost(db, hostId);
  const found = await findAccessUser(db, user);
  if (!found) throw notFound('user', 'user');
  const ids: string[] = [];
  for (const principal of host.principals) {
    const restrictions = principal.command_restrictions;
    if (!restrictions) continue;
    if (typeof restrictions.default_whitelist?.id === 'string') ids.push(restrictions.default_whitelist.id);
    for (const grant of restrictions.whitelists ?? []) if (typeof grant.whitelist?.id === 'string') ids.push(grant.whitelist.id);
  }
  const rows = await findWhitelistsByIds(db, ids.filter((id) => id !== ''));
  const whitelists = new Map(rows.map((row) => [row.id, { id: row.id, name: row.name, type: row.type, patterns: JSON.parse(row.patterns) as string[] }]));
  return {
    host,
    user: found,
    roles: await rolesOf(db, 'user', found.id),
    defaults: await getDefaultServiceOptions(db),
    whitelists,
    passphrases: await principalsWithPassphrase(db, hostId),
  };
}
