/**
 * Small X.509 toolkit: a private certificate authority, server / client certificates, PKCS#10
 * certificate signing requests and X.509 v2 certificate revocation lists.
 *
 * Every key this module generates is ECDSA P-256 and every signature it makes is ECDSA with
 * SHA-256. Private keys are exchanged as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`); SEC1
 * (`-----BEGIN EC PRIVATE KEY-----`) CA keys are accepted on input too.
 *
 * Serial numbers are represented everywhere as lower-case hexadecimal strings of the positive
 * integer's magnitude, even-length and without a sign byte (see {@link normalizeSerialHex}), so the
 * value returned by {@link signCertificateSigningRequest} or {@link describeCertificate} can be fed
 * to {@link createCertificateRevocationList} unchanged.
 *
 * @module
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  webcrypto,
  X509Certificate as NodeX509Certificate,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const subtle = webcrypto.subtle;

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** How far `notBefore` is back-dated to tolerate clock skew between machines. */
const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A certificate together with its private key, both PEM encoded. */
export interface CertificateWithKey {
  /** The certificate, `-----BEGIN CERTIFICATE-----`. */
  certificatePem: string;
  /** The private key, PKCS#8 `-----BEGIN PRIVATE KEY-----`. */
  privateKeyPem: string;
}

/** A certificate authority: its certificate and the key that signs with it. */
export type CertificateAuthority = CertificateWithKey;

/** Which extended key usages a certificate signed from a CSR gets. */
export type ExtendedKeyUsageChoice = 'server' | 'client' | 'both';

/** Thrown by {@link signCertificateSigningRequest} when the CSR cannot be parsed, is not self-consistent, or is unacceptable. */
export class InvalidCsrError extends Error {
  override readonly name = 'InvalidCsrError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Options of {@link createCertificateAuthority}. */
export interface CreateCertificateAuthorityOptions {
  /** Subject and issuer common name of the self-signed CA certificate. */
  commonName: string;
  /** Validity period in days, counted from now (`notBefore` is back-dated 5 minutes for clock skew). */
  validityDays: number;
}

/** Options of {@link issueServerCertificate}. */
export interface IssueServerCertificateOptions {
  /** The issuing CA. */
  ca: CertificateAuthority;
  /** Subject common name (informational: TLS clients match the subject alternative names). */
  commonName: string;
  /** DNS names for the subjectAltName extension (wildcards such as `*.example.com` are allowed). */
  dnsNames: readonly string[];
  /** IPv4 / IPv6 addresses for the subjectAltName extension, e.g. `127.0.0.1`, `::1`. */
  ipAddresses: readonly string[];
  /** Validity period in days, counted from now. */
  validityDays: number;
}

/** Options of {@link createCertificateSigningRequest}. */
export interface CreateCertificateSigningRequestOptions {
  /** Subject common name of the request. */
  commonName: string;
}

/** Result of {@link createCertificateSigningRequest}. */
export interface CertificateSigningRequestWithKey {
  /** The PKCS#10 request, `-----BEGIN CERTIFICATE REQUEST-----`. */
  csrPem: string;
  /** The new private key, PKCS#8 PEM. */
  privateKeyPem: string;
}

/** Options of {@link signCertificateSigningRequest}. */
export interface SignCertificateSigningRequestOptions {
  /** The issuing CA. */
  ca: CertificateAuthority;
  /** The PKCS#10 request (PEM). Its signature is verified before anything is issued. */
  csrPem: string;
  /**
   * Subject common name of the certificate. Defaults to the CSR's common name. The rest of the
   * CSR's subject, and any extensions it requests, are ignored: the issued subject is `CN=<name>` only.
   */
  commonName?: string;
  /** Validity period in days, counted from now. */
  validityDays: number;
  /** `server` → serverAuth, `client` → clientAuth, `both` → both. */
  extendedKeyUsage: ExtendedKeyUsageChoice;
  /** Optional DNS subjectAltNames chosen by the caller (never copied from the CSR). */
  dnsNames?: readonly string[];
  /** Optional IP subjectAltNames chosen by the caller (never copied from the CSR). */
  ipAddresses?: readonly string[];
}

/** Result of {@link signCertificateSigningRequest}. */
export interface SignedCertificate {
  /** The issued certificate, PEM. */
  certificatePem: string;
  /** Its serial number, normalized hex (see {@link normalizeSerialHex}). */
  serial: string;
}

/** One revoked certificate for {@link createCertificateRevocationList}. */
export interface RevokedCertificateEntry {
  /** Serial number in hex (any case, optional `0x` prefix, optional colons; normalized internally). */
  serial: string;
  /** When the certificate was revoked. */
  revokedAt: Date;
}

/** Options of {@link createCertificateRevocationList}. */
export interface CreateCertificateRevocationListOptions {
  /** The issuing CA (the CRL issuer and signer). */
  ca: CertificateAuthority;
  /** Revoked certificates; serials must be unique. */
  revoked: readonly RevokedCertificateEntry[];
  /** The CRL's `thisUpdate`. */
  thisUpdate: Date;
  /** The CRL's `nextUpdate`; must be after `thisUpdate`. */
  nextUpdate: Date;
  /** Monotonically increasing CRL number (non-negative safe integer). */
  crlNumber: number;
}

/** A signed X.509 v2 CRL. */
export interface CertificateRevocationList {
  /** PEM, `-----BEGIN X509 CRL-----`. */
  pem: string;
  /** The same CRL, DER encoded. */
  der: Buffer;
}

/** Public-key algorithm family reported by {@link describeCertificate}. */
export type CertificateKeyType = 'ECDSA' | 'RSA' | 'RSA-PSS' | 'DSA' | 'Ed25519' | 'Ed448' | 'DH' | 'X25519' | 'X448' | 'UNKNOWN';

/** Summary of a certificate, as produced by {@link describeCertificate}. */
export interface CertificateDescription {
  /** Subject distinguished name in RFC 4514 form, e.g. `CN=example`. */
  subject: string;
  /** Issuer distinguished name in RFC 4514 form. */
  issuer: string;
  /** Serial number, normalized hex (see {@link normalizeSerialHex}). */
  serial: string;
  /** Start of validity. */
  notBefore: Date;
  /** End of validity. */
  notAfter: Date;
  /** The subject public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`). */
  publicKeyPem: string;
  /**
   * The subject public key as a one-line string. For RSA, ECDSA (P-256/P-384/P-521) and Ed25519
   * keys this is the OpenSSH `authorized_keys` form without comment (`ecdsa-sha2-nistp256 AAAA…`,
   * `ssh-rsa AAAA…`, `ssh-ed25519 AAAA…`); for any other key type it is the base64 of the DER SPKI.
   */
  publicKeyString: string;
  /** Public-key algorithm family. */
  keyType: CertificateKeyType;
  /** Key size in bits: curve size for EC (256, 384, 521), modulus size for RSA/DSA, 256 for Ed25519, 448 for Ed448. 0 when unknown. */
  keySize: number;
  /** Fingerprints of the DER certificate: lower-case hex without colons. */
  fingerprints: { sha1: string; sha256: string };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function assertValidityDays(validityDays: number): void {
  if (typeof validityDays !== 'number' || !Number.isFinite(validityDays) || validityDays <= 0) {
    throw new RangeError(`validityDays must be a positive number, got ${String(validityDays)}`);
  }
}

function assertCommonName(commonName: string): void {
  if (typeof commonName !== 'string' || commonName.length === 0 || commonName.length > 64) {
    throw new TypeError('commonName must be a non-empty string of at most 64 characters');
  }
}

/**
 * `CN=<commonName>` as a UTF8String. Built from an explicit value object because the string /
 * plain-JSON forms of @peculiar/x509 1.14 reinterpret quotes and a leading `#` in values.
 */
function cnName(commonName: string): x509.Name {
  return new x509.Name([{ CN: [{ utf8String: commonName }] }]);
}

function validityWindow(validityDays: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return {
    notBefore: new Date(Math.floor((now - BACKDATE_MS) / 1000) * 1000),
    notAfter: new Date(Math.floor((now + validityDays * DAY_MS) / 1000) * 1000),
  };
}

/**
 * A random positive 128-bit serial: 16 random bytes with the top bit cleared (so the DER INTEGER
 * needs no sign byte) and a non-zero first byte (so the encoding stays 16 bytes long).
 */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) || 0x01;
  return bytes.toString('hex');
}

/**
 * Normalizes a hexadecimal serial number to the canonical form used throughout this module:
 * lower case, no `0x` prefix or colons, no redundant leading zero bytes (and therefore no sign
 * byte), even number of digits. `"00:FF"` → `"ff"`, `"0x123"` → `"0123"`, `"0"` → `"00"`.
 *
 * @throws TypeError when the input is not hexadecimal.
 */
export function normalizeSerialHex(serial: string): string {
  let hex = serial.trim().toLowerCase().replace(/:/g, '');
  if (hex.startsWith('0x')) hex = hex.slice(2);
  if (hex.length === 0 || !/^[0-9a-f]+$/.test(hex)) {
    throw new TypeError(`invalid hexadecimal serial number: ${JSON.stringify(serial)}`);
  }
  hex = hex.replace(/^0+/, '');
  if (hex.length === 0) return '00';
  return hex.length % 2 === 1 ? `0${hex}` : hex;
}

/** Content octets (hex) of the DER INTEGER for a positive serial: adds a 00 sign byte when needed. */
function serialToDerIntegerHex(serial: string): string {
  const hex = normalizeSerialHex(serial);
  return Number.parseInt(hex.slice(0, 2), 16) >= 0x80 ? `00${hex}` : hex;
}

/** A DER TLV with the definite length form. */
function derTlv(tag: number, content: Buffer): Buffer {
  const length = content.length;
  let header: Buffer;
  if (length < 0x80) {
    header = Buffer.from([tag, length]);
  } else {
    const lengthBytes: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest & 0xff);
    header = Buffer.from([tag, 0x80 | lengthBytes.length, ...lengthBytes]);
  }
  return Buffer.concat([header, content]);
}

function derSequence(items: readonly Buffer[]): Buffer {
  return derTlv(0x30, Buffer.concat(items));
}

/** DER encoding of a non-negative safe INTEGER. */
function derInteger(value: number): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return derTlv(0x02, Buffer.from(hex, 'hex'));
}

/** RFC 5280 Time: UTCTime for years 1950–2049, GeneralizedTime otherwise; whole seconds, `Z`. */
function derTime(date: Date): Buffer {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  const year = date.getUTCFullYear();
  const rest = `${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  if (year >= 1950 && year < 2050) return derTlv(0x17, Buffer.from(`${pad(year % 100)}${rest}`, 'ascii'));
  return derTlv(0x18, Buffer.from(`${pad(year, 4)}${rest}`, 'ascii'));
}

/** AlgorithmIdentifier { ecdsa-with-SHA256 (1.2.840.10045.4.3.2) } without parameters (RFC 5758). */
const ECDSA_WITH_SHA256_DER = Buffer.from('300a06082a8648ce3d040302', 'hex');
/** OBJECT IDENTIFIER 2.5.29.35 (authorityKeyIdentifier). */
const OID_AUTHORITY_KEY_IDENTIFIER_DER = Buffer.from('0603551d23', 'hex');
/** OBJECT IDENTIFIER 2.5.29.20 (cRLNumber). */
const OID_CRL_NUMBER_DER = Buffer.from('0603551d14', 'hex');

function toArrayBuffer(buf: Buffer): ArrayBuffer {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

function pkcs8Pem(der: ArrayBuffer): string {
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

async function generateKeyPair(): Promise<CryptoKeyPair> {
  return subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return pkcs8Pem(await subtle.exportKey('pkcs8', key));
}

interface LoadedCa {
  certificate: x509.X509Certificate;
  /** The CA key for WebCrypto (certificate generation). */
  signingKey: CryptoKey;
  /** The CA key for node:crypto (CRL signing). */
  privateKey: KeyObject;
  /** Hex key identifier used for authorityKeyIdentifier. */
  keyIdentifier: string;
}

async function loadCa(ca: CertificateAuthority): Promise<LoadedCa> {
  if (!ca || typeof ca.certificatePem !== 'string' || typeof ca.privateKeyPem !== 'string') {
    throw new TypeError('ca must have certificatePem and privateKeyPem');
  }
  const certificate = new x509.X509Certificate(ca.certificatePem);
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(ca.privateKeyPem);
  } catch (cause) {
    throw new TypeError('ca.privateKeyPem is not a readable private key', { cause });
  }
  if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new TypeError('the CA key must be an ECDSA P-256 key');
  }
  const nodeCert = new NodeX509Certificate(ca.certificatePem);
  if (!nodeCert.checkPrivateKey(keyObject)) {
    throw new TypeError('ca.privateKeyPem does not match ca.certificatePem');
  }
  const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
  const signingKey = await subtle.importKey('pkcs8', toArrayBuffer(pkcs8), KEY_ALGORITHM, false, ['sign']);
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyIdentifier = ski
    ? ski.keyId
    : (await x509.SubjectKeyIdentifierExtension.create(certificate.publicKey)).keyId;
  return { certificate, signingKey, privateKey: keyObject, keyIdentifier };
}

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

function buildSanExtension(dnsNames: readonly string[], ipAddresses: readonly string[]): x509.SubjectAlternativeNameExtension | null {
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

function pemOf(cert: x509.X509Certificate): string {
  return cert.toString('pem');
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Creates a self-signed certificate authority with a fresh ECDSA P-256 key.
 *
 * The certificate has a random positive 128-bit serial, a critical basicConstraints `CA:TRUE`
 * (no path length limit), a critical keyUsage `keyCertSign, cRLSign` and a subjectKeyIdentifier.
 */
export async function createCertificateAuthority(
  options: CreateCertificateAuthorityOptions,
): Promise<CertificateAuthority> {
  assertCommonName(options.commonName);
  assertValidityDays(options.validityDays);
  const keys = await generateKeyPair();
  const { notBefore, notAfter } = validityWindow(options.validityDays);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: cnName(options.commonName),
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificatePem: pemOf(certificate), privateKeyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * Issues a TLS server certificate (fresh ECDSA P-256 key) signed by `ca`.
 *
 * Extensions: critical basicConstraints `CA:FALSE`, critical keyUsage `digitalSignature`, extended
 * key usage `serverAuth`, subjectAltName with every DNS name and IP address (IPv4 and IPv6),
 * subjectKeyIdentifier and authorityKeyIdentifier (the CA's key identifier).
 *
 * @throws TypeError on an invalid DNS name / IP address, or when the CA key does not match its certificate.
 */
export async function issueServerCertificate(options: IssueServerCertificateOptions): Promise<CertificateWithKey> {
  assertCommonName(options.commonName);
  assertValidityDays(options.validityDays);
  const san = buildSanExtension(options.dnsNames, options.ipAddresses);
  const ca = await loadCa(options.ca);
  const keys = await generateKeyPair();
  const { notBefore, notAfter } = validityWindow(options.validityDays);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    new x509.AuthorityKeyIdentifierExtension(ca.keyIdentifier, false),
  ];
  if (san) extensions.push(san);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: cnName(options.commonName),
    issuer: ca.certificate.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions,
  });
  return { certificatePem: pemOf(certificate), privateKeyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * Creates a fresh ECDSA P-256 key and a PKCS#10 certificate signing request for `CN=<commonName>`,
 * signed with ECDSA/SHA-256.
 */
export async function createCertificateSigningRequest(
  options: CreateCertificateSigningRequestOptions,
): Promise<CertificateSigningRequestWithKey> {
  assertCommonName(options.commonName);
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: cnName(options.commonName),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
  });
  return { csrPem: csr.toString('pem'), privateKeyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * Signs a PKCS#10 request with `ca` after verifying the request's self-signature.
 *
 * The subject is `CN=<commonName ?? CSR's CN>`; extensions requested in the CSR are ignored. The
 * certificate gets critical basicConstraints `CA:FALSE`, critical keyUsage `digitalSignature`
 * (plus `keyEncipherment` for RSA keys), the requested extended key usages, optional
 * caller-supplied subjectAltNames, subjectKeyIdentifier and authorityKeyIdentifier.
 *
 * Accepted subject keys: ECDSA (P-256, P-384, P-521), RSA of at least 2048 bits, Ed25519.
 *
 * @throws InvalidCsrError when the CSR cannot be parsed, its signature does not verify, its key is
 *   unacceptable, or there is no common name.
 */
export async function signCertificateSigningRequest(
  options: SignCertificateSigningRequestOptions,
): Promise<SignedCertificate> {
  assertValidityDays(options.validityDays);
  const usage = options.extendedKeyUsage;
  if (usage !== 'server' && usage !== 'client' && usage !== 'both') {
    throw new TypeError(`extendedKeyUsage must be 'server', 'client' or 'both'`);
  }
  if (options.commonName !== undefined) assertCommonName(options.commonName);
  const san = buildSanExtension(options.dnsNames ?? [], options.ipAddresses ?? []);

  let csr: x509.Pkcs10CertificateRequest;
  try {
    if (typeof options.csrPem !== 'string' || !options.csrPem.includes('-----BEGIN')) {
      throw new Error('not PEM');
    }
    csr = new x509.Pkcs10CertificateRequest(options.csrPem);
  } catch (cause) {
    throw new InvalidCsrError('the CSR could not be parsed', { cause });
  }

  const spki = csr.publicKey.rawData;
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new InvalidCsrError('the CSR public key could not be read', { cause });
  }
  const keyType = publicKey.asymmetricKeyType;
  const details = publicKey.asymmetricKeyDetails ?? {};
  if (keyType === 'ec') {
    if (!['prime256v1', 'secp384r1', 'secp521r1'].includes(details.namedCurve ?? '')) {
      throw new InvalidCsrError(`unsupported EC curve ${String(details.namedCurve)}`);
    }
  } else if (keyType === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) throw new InvalidCsrError('RSA keys must have at least 2048 bits');
  } else if (keyType !== 'ed25519') {
    throw new InvalidCsrError(`unsupported key type ${String(keyType)}`);
  }

  let signatureOk = false;
  try {
    signatureOk = await csr.verify();
  } catch (cause) {
    throw new InvalidCsrError('the CSR signature could not be verified', { cause });
  }
  if (!signatureOk) throw new InvalidCsrError('the CSR signature is invalid');

  let commonName = options.commonName;
  if (commonName === undefined) {
    commonName = csr.subjectName.getField('CN')[0];
    if (commonName === undefined || commonName.length === 0) {
      throw new InvalidCsrError('the CSR has no common name and none was given');
    }
    if (commonName.length > 64) throw new InvalidCsrError('the CSR common name is longer than 64 characters');
  }

  const ca = await loadCa(options.ca);
  const ekus: string[] = [];
  if (usage === 'server' || usage === 'both') ekus.push(x509.ExtendedKeyUsage.serverAuth);
  if (usage === 'client' || usage === 'both') ekus.push(x509.ExtendedKeyUsage.clientAuth);
  const keyUsage =
    keyType === 'rsa'
      ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
      : x509.KeyUsageFlags.digitalSignature;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(keyUsage, true),
    new x509.ExtendedKeyUsageExtension(ekus, false),
    await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
    new x509.AuthorityKeyIdentifierExtension(ca.keyIdentifier, false),
  ];
  if (san) extensions.push(san);
  const serial = randomSerialHex();
  const { notBefore, notAfter } = validityWindow(options.validityDays);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: cnName(commonName),
    issuer: ca.certificate.subjectName,
    notBefore,
    notAfter,
    publicKey: csr.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions,
  });
  return { certificatePem: pemOf(certificate), serial: normalizeSerialHex(certificate.serialNumber) };
}

/**
 * Creates an X.509 v2 CRL (RFC 5280 §5) issued and signed (ECDSA/SHA-256) by `ca`, with the
 * non-critical CRL number and authorityKeyIdentifier extensions. Revoked entries carry no entry
 * extensions (no reason code); with no revoked certificates the list is omitted, as RFC 5280 requires.
 *
 * The DER is assembled here rather than with `X509CrlGenerator` from @peculiar/x509 1.14, which
 * writes an empty `crlEntryExtensions` SEQUENCE into every entry (invalid: SIZE (1..MAX)).
 *
 * @throws TypeError on an invalid or duplicate serial, or a bad CRL number; RangeError when
 *   `nextUpdate` is not after `thisUpdate`.
 */
export async function createCertificateRevocationList(
  options: CreateCertificateRevocationListOptions,
): Promise<CertificateRevocationList> {
  const { thisUpdate, nextUpdate, crlNumber } = options;
  if (!(thisUpdate instanceof Date) || Number.isNaN(thisUpdate.getTime())) throw new TypeError('thisUpdate must be a valid Date');
  if (!(nextUpdate instanceof Date) || Number.isNaN(nextUpdate.getTime())) throw new TypeError('nextUpdate must be a valid Date');
  if (nextUpdate.getTime() <= thisUpdate.getTime()) throw new RangeError('nextUpdate must be after thisUpdate');
  if (!Number.isSafeInteger(crlNumber) || crlNumber < 0) throw new TypeError('crlNumber must be a non-negative safe integer');

  const seen = new Set<string>();
  const entries: Array<{ serialHex: string; revokedAt: Date }> = [];
  for (const item of options.revoked) {
    const serial = serialToDerIntegerHex(item.serial);
    if (seen.has(serial)) throw new TypeError(`duplicate serial number in CRL: ${item.serial}`);
    seen.add(serial);
    if (!(item.revokedAt instanceof Date) || Number.isNaN(item.revokedAt.getTime())) {
      throw new TypeError(`revokedAt of ${item.serial} must be a valid Date`);
    }
    entries.push({ serialHex: serial, revokedAt: item.revokedAt });
  }

  const ca = await loadCa(options.ca);
  const revokedList = entries.map((entry) =>
    derSequence([derTlv(0x02, Buffer.from(entry.serialHex, 'hex')), derTime(entry.revokedAt)]),
  );
  const crlExtensions = derSequence([
    // authorityKeyIdentifier: SEQUENCE { [0] IMPLICIT OCTET STRING keyIdentifier }
    derSequence([
      OID_AUTHORITY_KEY_IDENTIFIER_DER,
      derTlv(0x04, derSequence([derTlv(0x80, Buffer.from(ca.keyIdentifier, 'hex'))])),
    ]),
    derSequence([OID_CRL_NUMBER_DER, derTlv(0x04, derInteger(crlNumber))]),
  ]);
  const tbsParts = [
    derTlv(0x02, Buffer.from([0x01])), // version v2
    ECDSA_WITH_SHA256_DER,
    Buffer.from(ca.certificate.subjectName.toArrayBuffer()),
    derTime(thisUpdate),
    derTime(nextUpdate),
  ];
  // RFC 5280: revokedCertificates is omitted (not empty) when nothing is revoked.
  if (revokedList.length > 0) tbsParts.push(derSequence(revokedList));
  tbsParts.push(derTlv(0xa0, crlExtensions));
  const tbs = derSequence(tbsParts);
  const signature = sign('sha256', tbs, ca.privateKey); // DER-encoded ECDSA-Sig-Value
  const der = derSequence([tbs, ECDSA_WITH_SHA256_DER, derTlv(0x03, Buffer.concat([Buffer.from([0x00]), signature]))]);
  return { pem: x509.PemConverter.encode(toArrayBuffer(der), 'X509 CRL'), der };
}

// ---------------------------------------------------------------------------------------------
// describeCertificate

function sshString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
}

/** SSH mpint from an unsigned big-endian magnitude. */
function sshMpint(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  let body = magnitude.subarray(start);
  if (body.length > 0 && body[0]! >= 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return sshString(body);
}

const SSH_EC_CURVES: Record<string, string> = { 'P-256': 'nistp256', 'P-384': 'nistp384', 'P-521': 'nistp521' };

function opensshPublicKey(key: KeyObject): string | null {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const jwk = key.export({ format: 'jwk' });
    if (!jwk.n || !jwk.e) return null;
    const blob = Buffer.concat([
      sshString('ssh-rsa'),
      sshMpint(Buffer.from(jwk.e, 'base64url')),
      sshMpint(Buffer.from(jwk.n, 'base64url')),
    ]);
    return `ssh-rsa ${blob.toString('base64')}`;
  }
  if (type === 'ec') {
    const jwk = key.export({ format: 'jwk' });
    const curve = jwk.crv ? SSH_EC_CURVES[jwk.crv] : undefined;
    if (!curve || !jwk.x || !jwk.y) return null;
    const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
    const name = `ecdsa-sha2-${curve}`;
    const blob = Buffer.concat([sshString(name), sshString(curve), sshString(point)]);
    return `${name} ${blob.toString('base64')}`;
  }
  if (type === 'ed25519') {
    const jwk = key.export({ format: 'jwk' });
    if (!jwk.x) return null;
    const blob = Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.from(jwk.x, 'base64url'))]);
    return `ssh-ed25519 ${blob.toString('base64')}`;
  }
  return null;
}

const KEY_TYPES: Record<string, CertificateKeyType> = {
  ec: 'ECDSA',
  rsa: 'RSA',
  'rsa-pss': 'RSA-PSS',
  dsa: 'DSA',
  ed25519: 'Ed25519',
  ed448: 'Ed448',
  dh: 'DH',
  x25519: 'X25519',
  x448: 'X448',
};

const EC_CURVE_BITS: Record<string, number> = {
  prime256v1: 256,
  secp256k1: 256,
  secp384r1: 384,
  secp521r1: 521,
  prime192v1: 192,
  secp224r1: 224,
};

function keySizeOf(key: KeyObject): number {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
    case 'dsa':
      return details.modulusLength ?? 0;
    case 'ec':
      return EC_CURVE_BITS[details.namedCurve ?? ''] ?? 0;
    case 'ed25519':
    case 'x25519':
      return 256;
    case 'ed448':
    case 'x448':
      return 448;
    default:
      return details.modulusLength ?? 0;
  }
}

/**
 * Summarizes a PEM certificate (any key type, not only the ones this module issues).
 *
 * `publicKeyString` is OpenSSH `authorized_keys` form (no comment) for RSA, ECDSA and Ed25519 keys
 * and base64 DER SPKI otherwise; see {@link CertificateDescription}.
 *
 * @throws when `pem` is not a parseable certificate.
 */
export function describeCertificate(pem: string): CertificateDescription {
  const nodeCert = new NodeX509Certificate(pem);
  const cert = new x509.X509Certificate(nodeCert.raw);
  const publicKey = nodeCert.publicKey;
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const asymmetricType = publicKey.asymmetricKeyType ?? '';
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serial: normalizeSerialHex(cert.serialNumber),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicKeyString: opensshPublicKey(publicKey) ?? spkiDer.toString('base64'),
    keyType: KEY_TYPES[asymmetricType] ?? 'UNKNOWN',
    keySize: keySizeOf(publicKey),
    fingerprints: {
      sha1: createHash('sha1').update(nodeCert.raw).digest('hex'),
      sha256: createHash('sha256').update(nodeCert.raw).digest('hex'),
    },
  };
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
