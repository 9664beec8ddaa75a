import crypto from 'node:crypto';
import type { InstallationKey } from '../../installation-key.js';
import { createCertificateAuthority, describeCertificate } from '../../lib/pki.js';
import { timestamp } from '../../lib/time.js';
import type { AccessGroupCaRow } from './access-group-repository.js';
import { caCertificateFields, type CaCertificateFields } from './ca-fields.js';

/** Key types privgate makes access-group CAs with (PrivX also offers RSA; see docs/access-groups.md). */
export const CA_KEY_TYPES = ['ecdsa'] as const;
export type CaKeyType = (typeof CA_KEY_TYPES)[number];
export const DEFAULT_CA_KEY_TYPE: CaKeyType = 'ecdsa';

const CA_VALIDITY_DAYS = 3650;
const CA_COMMENT = 'privgate access group CA';

/** Where a CA's sealed private key lives: the seal's context, so it opens in that row only. */
export function privateKeyContext(caId: string): string {
  return `access_group_cas.private_key.${caId}`;
}

/**
 * A new CA key pair for a group: a self-signed X.509 CA certificate (for X.509 clients) whose key
 * is also the group's OpenSSH CA key; the private key sealed under the installation key.
 */
export async function makeAccessGroupCa(installationKey: InstallationKey, groupId: string, keyType: CaKeyType, now: Date): Promise<AccessGroupCaRow> {
  const id = crypto.randomUUID();
  const ca = await createCertificateAuthority({ commonName: `privgate access group ${groupId}`.slice(0, 64), validityDays: CA_VALIDITY_DAYS });
  return {
    id,
    access_group_id: groupId,
    key_type: keyType,
    certificate_pem: ca.certificatePem,
    public_key_string: describeCertificate(ca.certificatePem).publicKeyString,
    private_key_sealed: installationKey.seal(ca.privateKeyPem, privateKeyContext(id)),
    created: timestamp(now),
  };
}

/** A group CA as `GET /authorizer/api/v1/cas` answers it (the SDKs' CA struct). */
export interface AccessGroupCaObject extends CaCertificateFields {
  id: string;
  group_id: string;
  access_group_id: string;
  type: string;
  public_key: string;
  comment: string;
  public_key_string: string;
  fingerprint_sha1: string;
  fingerprint_sha256: string;
}

export function accessGroupCaObject(row: AccessGroupCaRow): AccessGroupCaObject {
  const { fields } = caCertificateFields(row.certificate_pem);
  const [type = '', blob = ''] = row.public_key_string.split(' ');
  return {
    id: row.id,
    group_id: row.access_group_id,
    access_group_id: row.access_group_id,
    type,
    public_key: blob,
    comment: CA_COMMENT,
    public_key_string: `${row.public_key_string} ${CA_COMMENT}`,
    ...fields,
    fingerprint_sha1: fields.fingerprints.sha1,
    fingerprint_sha256: fields.fingerprints.sha256,
  };
}
