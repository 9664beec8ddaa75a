import { Type } from '@sinclair/typebox';
import { IdParam } from '../../schemas.js';
import type { Scope } from '../../access.js';

/** Who may read component CAs (certificates and CRLs are public material; the keys never leave). */
export const CA_READ_SCOPES: readonly Scope[] = ['admin', 'certificates-view', 'api-clients-manage', 'service'];

export const CaOut = Type.Object({
  id: Type.String(),
  group_id: Type.String(),
  type: Type.String(),
  size: Type.Integer(),
  public_key: Type.String(),
  public_key_string: Type.String(),
  x509_certificate: Type.String(),
  subject: Type.String(),
  issuer: Type.String(),
  serial: Type.String(),
  not_before: Type.String(),
  not_after: Type.String(),
  fingerprints: Type.Object({ sha1: Type.String(), sha256: Type.String() }),
});
export const CaParams = Type.Object({ id: IdParam });
export const CrlQuery = Type.Object({ format: Type.Optional(Type.Union([Type.Literal('der'), Type.Literal('pem')])) });


/** The SDK's ComponentCaConfig: which CA of a component type signs (privgate keeps one per type). */
export const CaConfigOut = Type.Object({
  name: Type.String(),
  ca_id: Type.String(),
  primary_ca_id: Type.String(),
  updated: Type.String(),
  updated_by: Type.String(),
});

/** The SDK's TrustAnchor. */
export const TrustAnchorOut = Type.Object({ trust_anchor: Type.String(), trust_anchor_sha1: Type.String(), trust_anchor_sha256: Type.String() });
