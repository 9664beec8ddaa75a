/**
 * Small X.509 toolkit: a private certificate authority, server / client certificates, PKCS#10
 * certificate signing requests and X.509 v2 certificate revocation lists. One concept per file
 * under `pki/`; this module is their public surface, in one import.
 *
 * Every key the toolkit generates is ECDSA P-256 and every signature it makes is ECDSA with
 * SHA-256 (see `pki/common.ts`). Serial numbers are lower-case hexadecimal everywhere (see
 * {@link normalizeSerialHex}), so the value returned by {@link signCertificateSigningRequest} or
 * {@link describeCertificate} can be fed to {@link createCertificateRevocationList} unchanged.
 *
 * @module
 */
export type { CertificateAuthority, CertificateWithKey } from './pki/common.js';
export { normalizeSerialHex } from './pki/serial-numbers.js';
export { canonicalIpAddress, certificateSubjectAltNames, isValidDnsName } from './pki/subject-alt-names.js';
export { createCertificateAuthority, issueServerCertificate, type CreateCertificateAuthorityOptions, type IssueServerCertificateOptions } from './pki/ca.js';
export {
  createCertificateSigningRequest,
  InvalidCsrError,
  signCertificateSigningRequest,
  type CertificateSigningRequestWithKey,
  type CreateCertificateSigningRequestOptions,
  type ExtendedKeyUsageChoice,
  type SignCertificateSigningRequestOptions,
  type SignedCertificate,
} from './pki/csr.js';
export { createCertificateRevocationList, type CertificateRevocationList, type CreateCertificateRevocationListOptions, type RevokedCertificateEntry } from './pki/crl.js';
export { describeCertificate, type CertificateDescription, type CertificateKeyType } from './pki/certificate-description.js';
