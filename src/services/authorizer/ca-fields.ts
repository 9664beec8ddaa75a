import { describeCertificate, type CertificateDescription } from '../../lib/pki.js';
import { timestamp } from '../../lib/time.js';

/** The certificate half of PrivX's CA object, shared by component CAs and access-group CAs. */
export interface CaCertificateFields {
  size: number;
  x509_certificate: string;
  subject: string;
  issuer: string;
  serial: string;
  not_before: string;
  not_after: string;
  fingerprints: { sha1: string; sha256: string };
}

/** Reads a CA certificate once: its wire fields, and the description for what a caller adds. */
export function caCertificateFields(certificatePem: string): { fields: CaCertificateFields; description: CertificateDescription } {
  const description = describeCertificate(certificatePem);
  return {
    description,
    fields: {
      size: description.keySize,
      x509_certificate: certificatePem,
      subject: description.subject,
      issuer: description.issuer,
      serial: description.serial,
      not_before: timestamp(description.notBefore),
      not_after: timestamp(description.notAfter),
      fingerprints: description.fingerprints,
    },
  };
}
