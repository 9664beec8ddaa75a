import crypto from 'node:crypto';
import net from 'node:net';
import type { Kysely, Selectable } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { isUniqueViolation } from '../../db/index.js';
import { duplicate, invalid, notFound } from '../../errors.js';
import { timestamp } from '../../lib/time.js';
import { DEFAULT_ACCESS_GROUP_ID } from '../authorizer/access-group-repository.js';

/** The trusted-client types privgate accepts (a closed list, as PrivX names them). */
export const TRUSTED_CLIENT_TYPES = ['ICAP', 'EXTENDER', 'CARRIER', 'HOST_PROVISIONING', 'NETWORK_ACCESS_MANAGER'] as const;
export type TrustedClientType = (typeof TRUSTED_CLIENT_TYPES)[number];

/** Where a client may register from when no subnets are given: anywhere. */
export const DEFAULT_SUBNETS: readonly string[] = ['0.0.0.0/0', '::/0'];

/**
 * The subnets a client may register from: its own, or anywhere when it has none. An empty list is
 * stored and read back as written (PrivX clients compare what they wrote); it means "any".
 */
export function effectiveSubnets(subnets: readonly string[]): readonly string[] {
  return subnets.length === 0 ? DEFAULT_SUBNETS : subnets;
}

/** A trusted client as the API shows it (never with a secret). */
export interface TrustedClient {
  id: string;
  type: string;
  name: string;
  permissions: string[];
  subnets: string[];
  enabled: boolean;
  registered: boolean;
  allow_repeated_registration: boolean;
  oauth_client_id: string;
  web_proxy_address: string;
  web_proxy_port: string;
  routing_prefix: string;
  extender_address: string[];
  group_id: string;
  data: string;
  access_group_id: string;
  extender_mode: string;
  web_proxy_extender_route_patterns: string[];
  extender_ssh_address: string;
  /** 0 = unset (the wire leaves it out then). */
  extender_ssh_port: number;
  extender_public_key: string;
  created: string;
  updated: string;
  updated_by: string;
  author: string;
}

/** What a create or update may set. Missing values take their defaults (PUT replaces the whole object). */
export interface TrustedClientInput {
  type: TrustedClientType;
  name: string;
  permissions?: string[] | null | undefined;
  subnets?: string[] | null | undefined;
  enabled?: boolean | undefined;
  allow_repeated_registration?: boolean | undefined;
  web_proxy_address?: string | undefined;
  web_proxy_port?: string | undefined;
  routing_prefix?: string | undefined;
  extender_address?: string[] | null | undefined;
  group_id?: string | undefined;
  data?: string | undefined;
  access_group_id?: string | undefined;
  extender_mode?: string | undefined;
  web_proxy_extender_route_patterns?: string[] | null | undefined;
  extender_ssh_address?: string | undefined;
  extender_ssh_port?: number | undefined;
  extender_public_key?: string | undefined;
}

type Row = Selectable<Tables['trusted_clients']>;

const COLUMNS = [
  'id',
  'type',
  'name',
  'permissions',
  'subnets',
  'enabled',
  'registered',
  'allow_repeated_registration',
  'oauth_client_id',
  'web_proxy_address',
  'web_proxy_port',
  'routing_prefix',
  'extender_address',
  'group_id',
  'data',
  'access_group_id',
  'extender_mode',
  'web_proxy_extender_route_patterns',
  'extender_ssh_address',
  'extender_ssh_port',
  'extender_public_key',
  'created',
  'updated',
  'updated_by',
  'author',
] as const;

type PublicRow = Pick<Row, (typeof COLUMNS)[number]>;

function parseStrings(json: string): string[] {
  const value: unknown = JSON.parse(json);
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function toTrustedClient(row: PublicRow): TrustedClient {
  return {
    ...row,
    permissions: parseStrings(row.permissions),
    subnets: parseStrings(row.subnets),
    extender_address: parseStrings(row.extender_address),
    web_proxy_extender_route_patterns: parseStrings(row.web_proxy_extender_route_patterns),
    enabled: row.enabled === 1,
    registered: row.registered === 1,
    allow_repeated_registration: row.allow_repeated_registration === 1,
    oauth_client_id: row.oauth_client_id ?? '',
    access_group_id: row.access_group_id ?? DEFAULT_ACCESS_GROUP_ID,
  };
}

/**
 * Parses a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a bare address (a /32 or /128). Returns the
 * canonical `address/prefix` form, or null when it is neither.
 */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6'; canonical: string } | null {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addressPart = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const version = net.isIP(addressPart);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const prefixText = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) return null;
    prefix = Number(prefixText);
    if (prefix > max) return null;
  }
  const family = version === 4 ? 'ipv4' : 'ipv6';
  return { address: addressPart.toLowerCase(), prefix, family, canonical: `${addressPart.toLowerCase()}/${prefix}` };
}

/** Whether `address` (as Fastify reports `request.ip`) lies inside one of `subnets`. */
export function addressInSubnets(address: string, subnets: readonly string[]): boolean {
  let ip = address.trim();
  // IPv4 clients on a dual-stack socket appear as IPv4-mapped IPv6 addresses.
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped?.[1]) ip = mapped[1];
  const version = net.isIP(ip);
  if (version === 0) return false;
  const list = new net.BlockList();
  for (const subnet of subnets) {
    const cidr = parseCidr(subnet);
    if (!cidr) continue;
    try {
      list.addSubnet(cidr.address, cidr.prefix, cidr.family);
    } catch {
      // An unusable entry only narrows what is allowed.
    }
  }
  return list.check(ip, version === 4 ? 'ipv4' : 'ipv6');
}

function normalizeSubnets(subnets: string[] | null | undefined): string[] {
  if (!subnets) return [];
  return subnets.map((subnet, index) => {
    const cidr = parseCidr(subnet);
    if (!cidr) throw invalid('VALUE_INCORRECT_FORMAT', `subnets[${index}] is not a CIDR such as 10.0.0.0/8`, `subnets[${index}]`);
    return cidr.canonical;
  });
}

function normalizePort(port: string | undefined): string {
  const value = (port ?? '').trim();
  if (value === '') return '';
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw invalid('VALUE_OUT_OF_BOUNDS', 'web_proxy_port must be a port number from 1 to 65535', 'web_proxy_port');
  }
  return String(Number(value));
}

/** Checks and normalises the settable fields; throws the 400 envelope for the first problem. */
function columnsOf(input: TrustedClientInput) {
  return {
    type: input.type,
    name: input.name,
    permissions: JSON.stringify(input.permissions ?? []),
    subnets: JSON.stringify(normalizeSubnets(input.subnets)),
    enabled: input.enabled ? 1 : 0,
    allow_repeated_registration: input.allow_repeated_registration ? 1 : 0,
    web_proxy_address: (input.web_proxy_address ?? '').trim(),
    web_proxy_port: normalizePort(input.web_proxy_port),
    routing_prefix: input.routing_prefix ?? '',
    extender_address: JSON.stringify(input.extender_address ?? []),
    group_id: input.group_id ?? '',
    data: input.data ?? '',
    access_group_id: (input.access_group_id ?? '').trim() || DEFAULT_ACCESS_GROUP_ID,
    extender_mode: input.extender_mode ?? '',
    web_proxy_extender_route_patterns: JSON.stringify(input.web_proxy_extender_route_patterns ?? []),
    extender_ssh_address: (input.extender_ssh_address ?? '').trim(),
    extender_ssh_port: input.extender_ssh_port ?? 0,
    extender_public_key: input.extender_public_key ?? '',
  };
}

export async function listTrustedClients(db: Kysely<Tables>, offset: number, limit: number, descending: boolean): Promise<{ count: number; items: TrustedClient[] }> {
  const total = await db.selectFrom('trusted_clients').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const rows = await db.selectFrom('trusted_clients').select(COLUMNS).orderBy('name', descending ? 'desc' : 'asc').offset(offset).limit(limit).execute();
  return { count: Number(total.n), items: rows.map(toTrustedClient) };
}

/** Every trusted client of one type, by name. */
export async function listTrustedClientsOfType(db: Kysely<Tables>, type: TrustedClientType): Promise<TrustedClient[]> {
  const rows = await db.selectFrom('trusted_clients').select(COLUMNS).where('type', '=', type).orderBy('name', 'asc').execute();
  return rows.map(toTrustedClient);
}

export async function getTrustedClient(db: Kysely<Tables>, id: string): Promise<TrustedClient> {
  const row = await db.selectFrom('trusted_clients').select(COLUMNS).where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound('trusted client');
  return toTrustedClient(row);
}

/** Like {@link getTrustedClient} but undefined when it does not exist. */
export async function findTrustedClient(db: Kysely<Tables>, id: string): Promise<TrustedClient | undefined> {
  const row = await db.selectFrom('trusted_clients').select(COLUMNS).where('id', '=', id).executeTakeFirst();
  return row ? toTrustedClient(row) : undefined;
}

export async function createTrustedClient(db: Kysely<Tables>, input: TrustedClientInput, author: string, now: Date): Promise<string> {
  const id = crypto.randomUUID();
  const at = timestamp(now);
  const columns = columnsOf(input);
  try {
    await db
      .insertInto('trusted_clients')
      .values({
        id,
        ...columns,
        registered: 0,
        registration_secret_hash: null,
        registration_secret_expires: null,
        oauth_client_id: null,
        oauth_client_secret_hash: null,
        client_secret_hash: null,
        created: at,
        updated: at,
        author,
      })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('name', `trusted client name "${input.name}" is taken`);
    throw error;
  }
  return id;
}

/**
 * Replaces a trusted client's settable fields; returns the previous state. The type cannot
 * change. Disabling a client also drops its registration (credentials and outstanding secret): it
 * has to download a new config and register again once enabled.
 */
export async function updateTrustedClient(db: Kysely<Tables>, id: string, input: TrustedClientInput, updatedBy: string, now: Date): Promise<TrustedClient> {
  const existing = await getTrustedClient(db, id);
  if (input.type !== existing.type) throw invalid('INVALID_REQUEST_DATA', 'the type of a trusted client cannot be changed', 'type');
  const columns = columnsOf(input);
  const disabling = existing.enabled && columns.enabled === 0;
  try {
    await db
      .updateTable('trusted_clients')
      .set({
        ...columns,
        updated: timestamp(now),
        updated_by: updatedBy,
        ...(disabling
          ? { registered: 0, registration_secret_hash: null, registration_secret_expires: null, oauth_client_id: null, oauth_client_secret_hash: null, client_secret_hash: null }
          : {}),
      })
      .where('id', '=', id)
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw duplicate('name', `trusted client name "${input.name}" is taken`);
    throw error;
  }
  return existing;
}

export async function deleteTrustedClient(db: Kysely<Tables>, id: string): Promise<TrustedClient> {
  const existing = await getTrustedClient(db, id);
  await db.deleteFrom('trusted_clients').where('id', '=', id).execute();
  return existing;
}
