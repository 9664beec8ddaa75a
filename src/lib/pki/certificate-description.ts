/**
 * A summary of any PEM certificate (not only the ones this toolkit issues): names, serial,
 * validity, public key, key type and size, fingerprints.
 *
 * @module
 */
import { createHash, X509Certificate as NodeX509Certificate, type KeyObject } from 'node:crypto';
import { x509 } from './common.js';
import { opensshPublicKey } from './openssh-keys.js';
import { normalizeSerialHex } from './serial-numbers.js';

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
 * Summarizes a PEM certificate (any key type, not only the ones this toolkit issues).
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
