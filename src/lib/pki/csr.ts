/**
 * PKCS#10 certificate signing requests: creating one with a fresh key, and signing one with a CA
 * after checking it.
 *
 * @module
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { loadCa } from './ca.js';
import {
  assertCommonName,
  assertValidityDays,
  cnName,
  exportPrivateKeyPem,
  generateKeyPair,
  pemOf,
  SIGNING_ALGORITHM,
  x509,
  type CertificateAuthority,
  validityWindow,
} from './common.js';
import { normalizeSerialHex, randomSerialHex } from './serial-numbers.js';
import { buildSanExtension } from './subject-alt-names.js';

/** Which extended key usages a certificate signed from a CSR gets. */
export type ExtendedKeyUsageChoice = 'server' | 'client' | 'both';

/** Thrown by {@link signCertificateSigningRequest} when the CSR cannot be parsed, is not self-consistent, or is unacceptable. */
export class InvalidCsrError extends Error {
  override readonly name = 'InvalidCsrError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
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
