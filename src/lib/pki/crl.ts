/**
 * X.509 v2 certificate revocation lists, issued and signed by a CA.
 *
 * @module
 */
import { sign } from 'node:crypto';
import { loadCa } from './ca.js';
import { toArrayBuffer, x509, type CertificateAuthority } from './common.js';
import { derInteger, derSequence, derTime, derTlv } from './der.js';
import { normalizeSerialHex } from './serial-numbers.js';

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

/** Content octets (hex) of the DER INTEGER for a positive serial: adds a 00 sign byte when needed. */
function serialToDerIntegerHex(serial: string): string {
  const hex = normalizeSerialHex(serial);
  return Number.parseInt(hex.slice(0, 2), 16) >= 0x80 ? `00${hex}` : hex;
}

/** AlgorithmIdentifier { ecdsa-with-SHA256 (1.2.840.10045.4.3.2) } without parameters (RFC 5758). */
const ECDSA_WITH_SHA256_DER = Buffer.from('300a06082a8648ce3d040302', 'hex');
/** OBJECT IDENTIFIER 2.5.29.35 (authorityKeyIdentifier). */
const OID_AUTHORITY_KEY_IDENTIFIER_DER = Buffer.from('0603551d23', 'hex');
/** OBJECT IDENTIFIER 2.5.29.20 (cRLNumber). */
const OID_CRL_NUMBER_DER = Buffer.from('0603551d14', 'hex');

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
