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

export interface HostPrincipal {
  principal: string;
  rotate?: boolean;
  use_for_password_rotation?: boolean;
  source?: string;
  service_options?: ServiceOptionsOverride | null;
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
    return { ...input } as HostPrincipal;
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
