/**
 * The access resolver: "may user U connect to host H as account A over service S, with which
 * options and which restrictions". The SSH gateway, the web console and the admin's explanation
 * endpoint (`GET /host-store/api/v1/hosts/{id}/access`) all ask it.
 *
 * {@link decideAccess} is pure: it decides from {@link AccessFacts} (access-repository.ts reads
 * them) and the time and client address of the connection. {@link resolveAccess} reads and decides.
 *
 * Rules, in order (the first that fails is the reason):
 * 1. the host is enabled (`disabled` "FALSE");
 * 2. the user is enabled;
 * 3. the host offers the service;
 * 4. the principal (account) is on the host;
 * 5. the user is a member of at least one role the principal lists, and that role's contextual
 *    limit allows the time and address. privx-admin is NOT implicitly allowed: administering
 *    hosts is not a licence to log in to them, so the admin role must be listed like any other.
 *
 * @module
 */
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { limitAllows } from '../../lib/contextual-limit.js';
import { resolveEffectiveServiceOptions, type ServiceOptions } from '../../lib/service-options.js';
import type { Role } from '../role-store/repository.js';
import { readAccessFacts, type AccessFacts, type WhitelistFacts } from './access-repository.js';
import { isEnabled, type CommandRestrictions, type HostPrincipal } from './host-document.js';
import type { ServiceType } from './schemas.js';

/** What is asked: the service, the account (all of the host's when left out), when and from where. */
export interface AccessQuery {
  service: ServiceType;
  principal?: string | undefined;
  at: Date;
  /** The user's client address; '' = unknown (a role limited to address masks then does not apply). */
  address: string;
}

export const ACCESS_REASONS = [
  'allowed',
  'host_disabled',
  'user_disabled',
  'service_not_on_host',
  'principal_not_on_host',
  'no_role',
  'roles_excluded_by_context',
] as const;
export type AccessReason = (typeof ACCESS_REASONS)[number];

export interface RoleHandle {
  id: string;
  name: string;
}

/** A principal's command restrictions as they apply to the user, whitelists with their patterns. */
export interface ResolvedCommandRestrictions {
  enabled: boolean;
  rshell_variant: string;
  banner: string;
  allow_no_match: boolean;
  audit_match: boolean;
  audit_no_match: boolean;
  default_whitelist: WhitelistFacts | null;
  /** The grants' whitelists of the user's applying roles (each once). */
  whitelists: WhitelistFacts[];
  /** What the gateway enforces: the granted whitelists, else the default one. */
  effective_whitelists: WhitelistFacts[];
}

export interface AccessDecision {
  principal: string;
  allowed: boolean;
  reason: AccessReason;
  message: string;
  /** The roles of the user, listed on the principal, that apply now (the ones that allow). */
  via_roles: RoleHandle[];
  /** Roles of the user listed on the principal that the contextual limit excludes now. */
  excluded_roles: RoleHandle[];
  use_user_account: boolean;
  /** Whether a passphrase is stored for the account (never the passphrase). */
  has_passphrase: boolean;
  /** Effective options when allowed, else null. */
  service_options: ServiceOptions | null;
  /** When allowed and the principal has restrictions, else null. */
  command_restrictions: ResolvedCommandRestrictions | null;
}

const handle = (role: Pick<Role, 'id' | 'name'>): RoleHandle => ({ id: role.id, name: role.name });

function resolveRestrictions(restrictions: CommandRestrictions | null | undefined, applying: ReadonlySet<string>, whitelists: ReadonlyMap<string, WhitelistFacts>): ResolvedCommandRestrictions | null {
  if (!restrictions) return null;
  const lookup = (id: unknown) => (typeof id === 'string' && id !== '' ? whitelists.get(id) ?? null : null);
  const granted: WhitelistFacts[] = [];
  for (const grant of restrictions.whitelists ?? []) {
    const whitelist = lookup(grant.whitelist?.id);
    if (!whitelist || granted.some((known) => known.id === whitelist.id)) continue;
    if ((grant.roles ?? []).some((role) => typeof role.id === 'string' && applying.has(role.id))) granted.push(whitelist);
  }
  const defaultWhitelist = lookup(restrictions.default_whitelist?.id);
  return {
    enabled: restrictions.enabled === true,
    rshell_variant: restrictions.rshell_variant ?? '',
    banner: restrictions.banner ?? '',
    allow_no_match: restrictions.allow_no_match === true,
    audit_match: restrictions.audit_match === true,
    audit_no_match: restrictions.audit_no_match === true,
    default_whitelist: defaultWhitelist,
    whitelists: granted,
    effective_whitelists: granted.length > 0 ? granted : defaultWhitelist ? [defaultWhitelist] : [],
  };
}

function decideOne(facts: AccessFacts, query: AccessQuery, name: string, principal: HostPrincipal | undefined): AccessDecision {
  const base = {
    principal: name,
    via_roles: [] as RoleHandle[],
    excluded_roles: [] as RoleHandle[],
    use_user_account: principal?.use_user_account === true,
    has_passphrase: facts.passphrases.has(name),
    service_options: null,
    command_restrictions: null,
  };
  const deny = (reason: AccessReason, message: string, roles: Partial<Pick<AccessDecision, 'excluded_roles'>> = {}): AccessDecision => ({ ...base, ...roles, allowed: false, reason, message });
  if (!isEnabled(facts.host.disabled)) return deny('host_disabled', `the host is disabled ("${facts.host.disabled}")`);
  if (facts.user.disabled) return deny('user_disabled', 'the user is disabled');
  if (!facts.host.services.some((service) => service.service === query.service)) return deny('service_not_on_host', `the host offers no ${query.service} service`);
  if (!principal) return deny('principal_not_on_host', `the host has no principal "${name}"`);

  const listed = new Set((principal.roles ?? []).map((role) => role.id).filter((id): id is string => typeof id === 'string'));
  const held = facts.roles.filter((role) => listed.has(role.id));
  if (held.length === 0) return deny('no_role', 'the user holds none of the roles the principal lists');
  const via = held.filter((role) => limitAllows(role.context, query.at, query.address));
  const excluded = held.filter((role) => !via.includes(role)).map(handle);
  if (via.length === 0) return deny('roles_excluded_by_context', 'the contextual limits of the user\'s roles on this principal exclude this time or address', { excluded_roles: excluded });

  // Whitelist grants go by every role of the user that applies now, not only those on the principal.
  const applying = new Set(facts.roles.filter((role) => limitAllows(role.context, query.at, query.address)).map((role) => role.id));
  return {
    ...base,
    allowed: true,
    reason: 'allowed',
    message: `allowed through ${via.map((role) => role.name).join(', ')}`,
    via_roles: via.map(handle),
    excluded_roles: excluded,
    service_options: resolveEffectiveServiceOptions(facts.defaults, principal.service_options).options,
    command_restrictions: resolveRestrictions(principal.command_restrictions, applying, facts.whitelists),
  };
}

/** The decision for the asked principal, or for each principal of the host (in host order). */
export function decideAccess(facts: AccessFacts, query: AccessQuery): AccessDecision[] {
  if (query.principal !== undefined) {
    const name = query.principal;
    return [decideOne(facts, query, name, facts.host.principals.find((principal) => principal.principal === name))];
  }
  return facts.host.principals.map((principal) => decideOne(facts, query, principal.principal, principal));
}

/** Reads the facts and decides: 404 for an unknown host or user (property `user`). */
export async function resolveAccess(db: Kysely<Tables>, hostId: string, user: string, query: AccessQuery): Promise<{ user: { id: string; username: string }; decisions: AccessDecision[] }> {
  const facts = await readAccessFacts(db, hostId, user);
  return { user: { id: facts.user.id, username: facts.user.username }, decisions: decideAccess(facts, query) };
}

/** `GET /hosts/{id}/access`'s question: `at` as RFC 3339 (default `now`), `address` '' when unknown. */
export interface AccessExplanationQuery {
  user: string;
  service: ServiceType;
  principal?: string | undefined;
  at?: string | undefined;
  address?: string | undefined;
}

/** The resolver's answer for an admin (`GET /hosts/{id}/access`): the decisions and what they were asked. */
export async function explainAccess(db: Kysely<Tables>, hostId: string, asked: AccessExplanationQuery, now: Date) {
  const at = asked.at === undefined ? now : new Date(asked.at);
  const address = asked.address ?? '';
  const resolved = await resolveAccess(db, hostId, asked.user, { service: asked.service, principal: asked.principal, at, address });
  return {
    host_id: hostId,
    user: resolved.user,
    service: asked.service,
    at: at.toISOString(),
    address,
    allowed: resolved.decisions.some((decision) => decision.allowed),
    decisions: resolved.decisions,
  };
}
