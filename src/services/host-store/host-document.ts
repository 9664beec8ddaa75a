import crypto from 'node:crypto';
import net from 'node:net';
import { PrivxError, invalid } from '../../errors.js';
import type { ServiceOptionsOverride } from '../../lib/service-options.js';
import type { HostIn, ServiceType } from './schemas.js';

/** Host fields the server owns: whatever a client sends for them is ignored. */
export const SERVER_FIELDS = ['id', 'created', 'updated', 'updated_by', 'author', 'status', 'deleted', 'to_be_deleted', 'host_certificate'] as const;

export interface HostService {
  service: ServiceType;
  address: string;
  port: number;
  source?: string;
  use_for_password_rotation?: boolean;
  allowed_domains?: string[];
  [key: string]: unknown;
}

/** A role or whitelist by id, as hosts name them (the SDK's HostRole, WhiteListHandle). */
export interface Handle {
  id?: string;
  name?: string;
  [key: string]: unknown;
}

/** The SDK's HostCommandRestrictions as stored. */
export interface CommandRestrictions {
  enabled?: boolean;
  rshell_variant?: string;
  default_whitelist?: Handle | null;
  whitelists?: Array<{ whitelist: Handle; roles?: Handle[] | null; [key: string]: unknown }> | null;
  allow_no_match?: boolean;
  audit_match?: boolean;
  audit_no_match?: boolean;
  banner?: string;
  [key: string]: unknown;
}

/**
 * A principal (target account) of a host as stored. Never with its `passphrase`: that is sealed
 * apart (host_principal_secrets), see {@link passphrasesOf}.
 */
export interface HostPrincipal {
  principal: string;
  rotate?: boolean;
  use_for_password_rotation?: boolean;
  use_user_account?: boolean;
  source?: string;
  roles?: Handle[] | null;
  service_options?: ServiceOptionsOverride | null;
  command_restrictions?: CommandRestrictions | null;
  [key: string]: unknown;
}

/**
 * A host as stored: the client's document with arrays normalised (null or missing → []) and
 * `disabled` defaulted, without the server fields.
 */
export interface HostDocument {
  name?: string;
  common_name?: string;
  external_id?: string;
  addresses: string[];
  disabled: string;
  services: HostService[];
  principals: HostPrincipal[];
  tags: string[];
  [key: string]: unknown;
}

/** A host as the API answers it. */
export interface Host extends HostDocument {
  id: string;
  scope: string[];
  deployable: boolean;
  status: Array<{ k: string; v: string }>;
  deleted: boolean;
  to_be_deleted: boolean;
  host_certificate_raw: string;
  host_certificate?: HostCertificateInfo;
  password_rotation_enabled: boolean;
  created: string;
  updated: string;
  updated_by: string;
  author: string;
}

const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const HOST_NAME = new RegExp(`^(?:${LABEL})(?:\\.${LABEL})*\\.?$`);

/** A DNS host name (labels of letters, digits, `-`, `_`), an IPv4 or an IPv6 address. */
export function isHostAddress(value: string): boolean {
  if (value.length === 0 || value.length > 253) return false;
  if (net.isIP(value) !== 0) return true;
  // All-numeric dotted strings that are not valid IPv4 (e.g. 999.1.1.1) are not host names either.
  if (/^[0-9.]+$/.test(value)) return false;
  return HOST_NAME.test(value);
}

/** An allowed domain of a WEB service: a host name, or `*.` followed by one. */
export function isAllowedDomain(value: string): boolean {
  const name = value.startsWith('*.') ? value.slice(2) : value;
  if (name.length === 0 || name.includes('*')) return false;
  return isHostAddress(name);
}

/**
 * Normalises a validated request body into the stored document and checks what the schema
 * cannot: address and domain formats, allowed domains only on WEB services, principal names
 * unique within the host.
 */
export function toHostDocument(body: HostIn): HostDocument {
  const document: Record<string, unknown> = { ...body };
  for (const field of SERVER_FIELDS) delete document[field];

  const addresses = body.addresses ?? [];
  addresses.forEach((address, index) => {
    if (!isHostAddress(address)) throw invalid('VALUE_INCORRECT_FORMAT', `"${address}" is not a host name or IP address`, `addresses[${index}]`);
  });

  const services = (body.services ?? []).map((input, index) => {
    const service = { ...input } as HostService;
    if (!isHostAddress(service.address)) {
      throw invalid('VALUE_INCORRECT_FORMAT', `"${service.address}" is not a host name or IP address`, `services[${index}].address`);
    }
    if (service.allowed_domains !== undefined) {
      const domains = service.allowed_domains ?? [];
      if (domains.length > 0 && service.service !== 'WEB') {
        throw invalid('INVALID_REQUEST_DATA', 'allowed_domains is only allowed on WEB services', `services[${index}].allowed_domains`);
      }
      domains.forEach((domain, domainIndex) => {
        if (!isAllowedDomain(domain)) {
          throw invalid('VALUE_INCORRECT_FORMAT', `"${domain}" is not a host name or *.-wildcard host name`, `services[${index}].allowed_domains[${domainIndex}]`);
        }
      });
      service.allowed_domains = domains;
    }
    return service;
  });

  const seen = new Set<string>();
  const principals = (body.principals ?? []).map((input, index) => {
    if (seen.has(input.principal)) {
      throw new PrivxError(400, 'VALUE_DUPLICATE', `principal "${input.principal}" appears twice on the host`, { property: `principals[${index}].principal` });
    }
    seen.add(input.principal);
    const principal = { ...input } as HostPrincipal;
    delete principal.passphrase;
    return principal;
  });

  return {
    ...document,
    addresses,
    disabled: body.disabled === undefined || body.disabled === '' ? 'FALSE' : body.disabled,
    services,
    principals,
    tags: body.tags ?? [],
  };
}

/**
 * The passphrases a host body sets, by principal: the non-empty ones (an empty or missing
 * passphrase — what GET answers — keeps the stored one). {@link toHostDocument} leaves them out
 * of the document.
 */
export function passphrasesOf(body: HostIn): Map<string, string> {
  const passphrases = new Map<string, string>();
  for (const principal of body.principals ?? []) {
    if (typeof principal.passphrase === 'string' && principal.passphrase !== '') passphrases.set(principal.principal, principal.passphrase);
  }
  return passphrases;
}

/**
 * The whitelist ids a host's principals' command restrictions name, each with where (the
 * property path of the id). Empty default ids are none (Go's zero value `{}`); a grant must name one.
 */
export function whitelistReferences(document: HostDocument): Array<{ id: string; property: string }> {
  const references: Array<{ id: string; property: string }> = [];
  document.principals.forEach((principal, index) => {
    const restrictions = principal.command_restrictions;
    if (!restrictions) return;
    const base = `principals[${index}].command_restrictions`;
    const defaultId = restrictions.default_whitelist?.id;
    if (typeof defaultId === 'string' && defaultId !== '') references.push({ id: defaultId, property: `${base}.default_whitelist.id` });
    (restrictions.whitelists ?? []).forEach((grant, grantIndex) => {
      references.push({ id: typeof grant.whitelist.id === 'string' ? grant.whitelist.id : '', property: `${base}.whitelists[${grantIndex}].whitelist.id` });
    });
  });
  return references;
}

/** Whether a host with this `disabled` value may be connected to. */
export function isEnabled(disabled: string): boolean {
  return disabled === 'FALSE';
}

/** The SDK's HostCertificateInfo: what a host's X.509 certificate says. */
export interface HostCertificateInfo {
  subject: string;
  issuer: string;
  serial: string;
  not_before: string;
  not_after: string;
  dns_names: string[];
  email_addresses: string[];
  ip_addresses: string[];
  uris: string[];
  fingerprint_sha1: string;
  fingerprint_sha256: string;
}

function isoOrEmpty(text: string): string {
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? '' : at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The parsed form of a host's `host_certificate_raw` (PEM), or undefined when it is empty or no certificate. */
export function certificateInfo(raw: string): HostCertificateInfo | undefined {
  if (!raw.includes('-----BEGIN CERTIFICATE-----')) return undefined;
  let certificate: crypto.X509Certificate;
  try {
    certificate = new crypto.X509Certificate(raw);
  } catch {
    return undefined;
  }
  const names = (certificate.subjectAltName ?? '').split(/,\s*/).filter((entry) => entry.length > 0);
  const of = (kind: string) => names.filter((entry) => entry.startsWith(`${kind}:`)).map((entry) => entry.slice(kind.length + 1));
  const hex = (fingerprint: string) => fingerprint.replace(/:/g, '').toLowerCase();
  return {
    subject: certificate.subject.replace(/\n/g, ', '),
    issuer: certificate.issuer.replace(/\n/g, ', '),
    serial: certificate.serialNumber,
    not_before: isoOrEmpty(certificate.validFrom),
    not_after: isoOrEmpty(certificate.validTo),
    dns_names: of('DNS'),
    email_addresses: of('email'),
    ip_addresses: of('IP Address'),
    uris: of('URI'),
    fingerprint_sha1: hex(certificate.fingerprint),
    fingerprint_sha256: hex(certificate.fingerprint256),
  };
}
