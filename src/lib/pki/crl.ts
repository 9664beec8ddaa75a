/**
 * X.509 v2 certificate revocation lists, issued and signed by a CA.
 *
 * @module
 */
import { sign } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  CRLNumber,
  CertificateList,
  Extension,
  KeyIdentifier,
  Name,
  RevokedCertificate,
  TBSCertList,
  Time,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
} from '@peculiar/asn1-x509';
import { loadCa } from './ca.js';
import { toArrayBuffer, x509, type CertificateAuthority } from './common.js';
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

/**
 * RFC 5280 Time: UTCTime for years 1950–2049, GeneralizedTime otherwise; whole seconds. Chosen
 * here because `new Time(date)` uses UTCTime for every year before 2050 (a 1949 date would read
 * back as 2049).
 */
function rfc5280Time(date: Date): Time {
  const seconds = new Date(Math.floor(date.getTime() / 1000) * 1000);
  const year = seconds.getUTCFullYear();
  return year >= 1950 && year < 2050 ? new Time({ utcTime: seconds }) : new Time({ generalTime: seconds });
}

/** A non-critical extension whose value is `value` DER encoded. */
function extension(extnID: string, value: unknown): Extension {
  return new Extension({ extnID, critical: false, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** ecdsa-with-SHA256 (1.2.840.10045.4.3.2), parameters absent (RFC 5758). */
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/**
 * Creates an X.509 v2 CRL (RFC 5280 §5) issued and signed (ECDSA/SHA-256) by `ca`, with the
 * non-critical CRL number and authorityKeyIdentifier extensions. Revoked entries carry no entry
 * extensions (no reason code); with no revoked certificates the list is omitted, as RFC 5280 requires.
 *
 * Built from the @peculiar/asn1-x509 structures rather than with `X509CrlGenerator` from
 * @peculiar/x509 1.14, which writes an empty `crlEntryExtensions` SEQUENCE into every entry
 * (invalid: SIZE (1..MAX)).
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
  const revokedCertificates: RevokedCertificate[] = [];
  for (const item of options.revoked) {
    const serial = serialToDerIntegerHex(item.serial);
    if (seen.has(serial)) throw new TypeError(`duplicate serial number in CRL: ${item.serial}`);
    seen.add(serial);
    if (!(item.revokedAt instanceof Date) || Number.isNaN(item.revokedAt.getTime())) {
      throw new TypeError(`revokedAt of ${item.serial} must be a valid Date`);
    }
    revokedCertificates.push(
      new RevokedCertificate({ userCertificate: toArrayBuffer(Buffer.from(serial, 'hex')), revocationDate: rfc5280Time(item.revokedAt) }),
    );
  }

  const ca = await loadCa(options.ca);
  const issuerDer = ca.certificate.subjectName.toArrayBuffer();
  const issuer = AsnConvert.parse(issuerDer, Name);
  if (!Buffer.from(AsnConvert.serialize(issuer)).equals(Buffer.from(issuerDer))) {
    // The CRL issuer must match the CA subject byte for byte, or no relying party chains it.
    throw new TypeError('the CA subject name does not re-encode identically');
  }
  const algorithm = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
  const tbsCertList = new TBSCertList({
    version: Version.v2,
    signature: algorithm,
    issuer,
    thisUpdate: rfc5280Time(thisUpdate),
    nextUpdate: rfc5280Time(nextUpdate),
    // RFC 5280: revokedCertificates is omitted (not empty) when nothing is revoked.
    revokedCertificates: revokedCertificates.length > 0 ? revokedCertificates : undefined,
    crlExtensions: [
      extension(
        id_ce_authorityKeyIdentifier,
        new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(Buffer.from(ca.keyIdentifier, 'hex')) }),
      ),
      extension(id_ce_cRLNumber, new CRLNumber(crlNumber)),
    ],
  });
  const tbs = Buffer.from(AsnConvert.serialize(tbsCertList));
  const signature = sign('sha256', tbs, ca.privateKey); // DER-encoded ECDSA-Sig-Value
  const der = Buffer.from(
    AsnConvert.serialize(new CertificateList({ tbsCertList, signatureAlgorithm: algorithm, signature: toArrayBuffer(signature) })),
  );
  return { pem: x509.PemConverter.encode(toArrayBuffer(der), 'X509 CRL'), der };
}
