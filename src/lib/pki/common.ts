/**
 * What every part of the X.509 toolkit shares: the configured @peculiar/x509 namespace, the key and
 * signature algorithms (ECDSA P-256, ECDSA with SHA-256), validity windows and PEM helpers.
 *
 * Every key this toolkit generates is ECDSA P-256 and every signature it makes is ECDSA with
 * SHA-256. Private keys are exchanged as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`); SEC1
 * (`-----BEGIN EC PRIVATE KEY-----`) CA keys are accepted on input too.
 *
 * @module
 */
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** @peculiar/x509, with its crypto provider set: import it from here so it is never used unset. */
export { x509 };

export const subtle = webcrypto.subtle;

export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

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

export function assertValidityDays(validityDays: number): void {
  if (typeof validityDays !== 'number' || !Number.isFinite(validityDays) || validityDays <= 0) {
    throw new RangeError(`validityDays must be a positive number, got ${String(validityDays)}`);
  }
}

export function assertCommonName(commonName: string): void {
  if (typeof commonName !== 'string' || commonName.length === 0 || commonName.length > 64) {
    throw new TypeError('commonName must be a non-empty string of at most 64 characters');
  }
}

/**
 * `CN=<commonName>` as a UTF8String. Built from an explicit value object because the string /
 * plain-JSON forms of @peculiar/x509 1.14 reinterpret quotes and a leading `#` in values.
 */
export function cnName(commonName: string): x509.Name {
  return new x509.Name([{ CN: [{ utf8String: commonName }] }]);
}

export function validityWindow(validityDays: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return {
    notBefore: new Date(Math.floor((now - BACKDATE_MS) / 1000) * 1000),
    notAfter: new Date(Math.floor((now + validityDays * DAY_MS) / 1000) * 1000),
  };
}

export function toArrayBuffer(buf: Buffer): ArrayBuffer {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

function pkcs8Pem(der: ArrayBuffer): string {
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

export type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return pkcs8Pem(await subtle.exportKey('pkcs8', key));
}

export function pemOf(cert: x509.X509Certificate): string {
  return cert.toString('pem');
}
