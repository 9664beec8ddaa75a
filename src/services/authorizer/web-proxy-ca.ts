import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { createCertificateAuthority, createCertificateRevocationList, type CertificateAuthority } from '../../lib/pki.js';
import { addSeconds, timestamp } from '../../lib/time.js';
import { caCertificateFields, type CaCertificateFields } from './ca-fields.js';
import { findCaBySlot, insertCaOnce, revokedCertificates, type CaRow } from './repository.js';

/** The one web-proxy CA slot of an installation. */
export const WEB_PROXY_CA_SLOT = 'ICAP';

/** The component CAs an installation keeps, one each: web proxies (and carriers) and extenders. */
export const COMPONENT_CA_TYPES = ['ICAP', 'EXTENDER'] as const;
export type ComponentCaType = (typeof COMPONENT_CA_TYPES)[number];
const CA_COMMON_NAMES: Record<ComponentCaType, string> = { ICAP: 'privgate web-proxy CA', EXTENDER: 'privgate extender CA' };
const CA_VALIDITY_DAYS = 3650;
/** How long a CRL is declared valid; proxies should fetch a new one well before. */
const CRL_VALIDITY_SECONDS = 24 * 3600;

/** The CA object as PrivX's authorizer answers it. */
export interface CaObject extends CaCertificateFields {
  id: string;
  group_id: string;
  type: string;
  public_key: string;
  public_key_string: string;
}

export function caObject(row: CaRow): CaObject {
  const { fields, description } = caCertificateFields(row.certificate_pem);
  const spkiDer = crypto.createPublicKey(description.publicKeyPem).export({ type: 'spki', format: 'der' });
  return {
    id: row.id,
    group_id: row.group_id,
    type: row.type,
    public_key: spkiDer.toString('base64'),
    public_key_string: description.publicKeyString,
    ...fields,
  };
}

export function caMaterial(row: CaRow): CertificateAuthority {
  return { certificatePem: row.certificate_pem, privateKeyPem: row.private_key_pem };
}

/** The installation's web-proxy CA, created on first need. */
export async function ensureWebProxyCa(db: Kysely<Tables>, now: Date): Promise<CaRow> {
  return ensureComponentCa(db, WEB_PROXY_CA_SLOT, now);
}

/**
 * The installation's CA of one component type (its slot is the type), created on first need. Two
 * nodes racing both generate a key, but only the first insert lands (unique slot); both then use
 * the stored one.
 */
export async function ensureComponentCa(db: Kysely<Tables>, type: ComponentCaType, now: Date): Promise<CaRow> {
  const existing = await findCaBySlot(db, type);
  if (existing) return existing;
  const ca = await createCertificateAuthority({ commonName: CA_COMMON_NAMES[type], validityDays: CA_VALIDITY_DAYS });
  return insertCaOnce(db, {
    id: crypto.randomUUID(),
    slot: type,
    group_id: '',
    type,
    certificate_pem: ca.certificatePem,
    private_key_pem: ca.privateKeyPem,
    created: timestamp(now),
  });
}

/** A CRL signed by `ca` listing its revoked, unexpired certificates. */
export async function crlFor(db: Kysely<Tables>, ca: CaRow, now: Date): Promise<{ der: Buffer; pem: string }> {
  const revoked = await revokedCertificates(db, ca.id, now);
  // Whole seconds, as the CRL encodes them; the number grows with time so reissues increase it.
  const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
  return createCertificateRevocationList({
    ca: caMaterial(ca),
    revoked: revoked.map((entry) => ({ serial: entry.serial, revokedAt: new Date(entry.revoked) })),
    thisUpdate,
    nextUpdate: addSeconds(thisUpdate, CRL_VALIDITY_SECONDS),
    crlNumber: now.getTime(),
  });
}
