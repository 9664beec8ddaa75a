/**
 * A private certificate authority: creating one, loading one to sign with, and issuing TLS server
 * certificates from it.
 *
 * @module
 */
import { createPrivateKey, X509Certificate as NodeX509Certificate, type KeyObject } from 'node:crypto';
import {
  assertCommonName,
  assertValidityDays,
  cnName,
  exportPrivateKeyPem,
  generateKeyPair,
  KEY_ALGORITHM,
  pemOf,
  SIGNING_ALGORITHM,
  subtle,
  toArrayBuffer,
  x509,
  type CertificateAuthority,
  type CertificateWithKey,
  type CryptoKey,
  validityWindow,
} from './common.js';
import { randomSerialHex } from './serial-numbers.js';
import { buildSanExtension } from './subject-alt-names.js';

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

/** A CA ready to sign with; see {@link loadCa}. */
export interface LoadedCa {
  certificate: x509.X509Certificate;
  /** The CA key for WebCrypto (certificate generation). */
  signingKey: CryptoKey;
  /** The CA key for node:crypto (CRL signing). */
  privateKey: KeyObject;
  /** Hex key identifier used for authorityKeyIdentifier. */
  keyIdentifier: string;
}

/** Reads and checks a CA (an ECDSA P-256 key that matches its certificate) for signing. */
export async function loadCa(ca: CertificateAuthority): Promise<LoadedCa> {
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
