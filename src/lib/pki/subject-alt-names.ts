/**
 * subjectAltName entries: validating and canonicalising DNS names and IP addresses, building the
 * extension for a certificate being issued, and reading it back from a PEM certificate.
 *
 * @module
 */
import { isIP } from 'node:net';
import { x509 } from './common.js';

/** Splits a mixed list of names into DNS names and IP addresses. */
interface ClassifiedName {
  type: 'dns' | 'ip';
  value: string;
}

/**
 * Canonical text form of an IP address: dotted quad for IPv4, RFC 5952 compressed lower case for
 * IPv6 (an IPv4-mapped IPv6 address is written in hex: `::ffff:7f00:1`). Surrounding brackets are
 * accepted. Returns `null` when the input is not an IP address.
 */
export function canonicalIpAddress(ip: string): string | null {
  let text = ip.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const version = isIP(text);
  if (version === 4) return text.split('.').map((part) => String(Number.parseInt(part, 10))).join('.');
  if (version === 6) {
    if (text.includes('%')) return null; // zone identifiers cannot go in a certificate
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  }
  return null;
}

/** Expands a canonical IPv6 address to eight hex groups, the form @peculiar/x509 encodes reliably. */
function expandIpv6(canonical: string): string {
  const [head = '', tail] = canonical.split('::');
  const left = head === '' ? [] : head.split(':');
  if (tail === undefined) return left.join(':');
  const right = tail === '' ? [] : tail.split(':');
  const zeros = new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].join(':');
}

const DNS_NAME = /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/;

/**
 * Whether `name` is acceptable as a DNS subjectAltName: letters, digits, `-` and `_` in labels of at
 * most 63 characters, an optional leading `*.` wildcard label, at most 253 characters.
 */
export function isValidDnsName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && DNS_NAME.test(name.toLowerCase());
}

/** The subjectAltName extension for the given names, or null when there are none. @throws TypeError on an invalid name. */
export function buildSanExtension(dnsNames: readonly string[], ipAddresses: readonly string[]): x509.SubjectAlternativeNameExtension | null {
  const names: ClassifiedName[] = [];
  const seen = new Set<string>();
  for (const dns of dnsNames) {
    if (typeof dns !== 'string' || !isValidDnsName(dns)) {
      throw new TypeError(`invalid DNS name: ${JSON.stringify(dns)}`);
    }
    const value = dns.toLowerCase().replace(/\.$/, '');
    if (!seen.has(`dns:${value}`)) {
      seen.add(`dns:${value}`);
      names.push({ type: 'dns', value });
    }
  }
  for (const ip of ipAddresses) {
    const canonical = typeof ip === 'string' ? canonicalIpAddress(ip) : null;
    if (canonical === null) throw new TypeError(`invalid IP address: ${JSON.stringify(ip)}`);
    if (!seen.has(`ip:${canonical}`)) {
      seen.add(`ip:${canonical}`);
      names.push({ type: 'ip', value: canonical });
    }
  }
  if (names.length === 0) return null;
  return new x509.SubjectAlternativeNameExtension(
    names.map((n) => ({
      type: n.type,
      value: n.type === 'ip' && n.value.includes(':') ? expandIpv6(n.value) : n.value,
    })),
    false,
  );
}

/**
 * The subjectAltName entries of a PEM certificate: DNS names lower-cased, IP addresses in
 * {@link canonicalIpAddress} form. Other name types are ignored.
 */
export function certificateSubjectAltNames(pem: string): { dnsNames: string[]; ipAddresses: string[] } {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of san?.names.items ?? []) {
    if (name.type === 'dns') dnsNames.push(name.value.toLowerCase());
    else if (name.type === 'ip') {
      const canonical = canonicalIpAddress(name.value);
      if (canonical !== null) ipAddresses.push(canonical);
    }
  }
  return { dnsNames, ipAddresses };
}
