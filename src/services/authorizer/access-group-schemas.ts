import { Type, type Static } from '@sinclair/typebox';
import { IdParam, SortedPagingQuery } from '../../schemas.js';
import { ACCESS_GROUP_SORT_KEYS } from './access-group-repository.js';

const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f]*$';
/** A PEM bundle (may hold newlines). */
const PemBundle = Type.String({ maxLength: 200_000 });
/** Server fields a client echoes back from GET: accepted (any value) and ignored. */
const Echoed = Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()]));

/**
 * POST/PUT body: the SDK's AccessGroup struct. The Go SDK always sends the trust anchors,
 * `primary_ca_id` and `key_type` (empty when unset); a PUT that echoes a GET is accepted, its
 * server fields ignored. Unknown keys are accepted and ignored, as PrivX does.
 */
export const AccessGroupInSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
    comment: Type.Optional(Type.String({ maxLength: 4000 })),
    host_certificate_trust_anchors: Type.Optional(PemBundle),
    winrm_host_certificate_trust_anchors: Type.Optional(PemBundle),
    db_host_certificate_trust_anchors: Type.Optional(PemBundle),
    key_type: Type.Optional(Type.String({ maxLength: 50, pattern: NO_CONTROL })),
    primary_ca_id: Type.Optional(Type.String({ maxLength: 200 })),
    ca_id: Echoed,
    id: Echoed,
    author: Echoed,
    created: Echoed,
    updated: Echoed,
    updated_by: Echoed,
    default: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  },
  { additionalProperties: true },
);
export type AccessGroupIn = Static<typeof AccessGroupInSchema>;

export const AccessGroupOutSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  comment: Type.String(),
  host_certificate_trust_anchors: Type.String(),
  winrm_host_certificate_trust_anchors: Type.String(),
  db_host_certificate_trust_anchors: Type.String(),
  ca_id: Type.String(),
  primary_ca_id: Type.String(),
  key_type: Type.String(),
  default: Type.Boolean(),
  author: Type.String(),
  created: Type.String({ format: 'date-time' }),
  updated: Type.String({ format: 'date-time' }),
  updated_by: Type.String(),
});
export type AccessGroupOut = Static<typeof AccessGroupOutSchema>;

export const AccessGroupPagingQuery = SortedPagingQuery(ACCESS_GROUP_SORT_KEYS);
export type AccessGroupPaging = Static<typeof AccessGroupPagingQuery>;

/** Search body: `keywords` only (unknown filters are refused rather than silently ignored). */
export const AccessGroupSearchSchema = Type.Object({ keywords: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false });

/** Renewal body (optional: the Python SDK sends none). */
export const CaRenewalSchema = Type.Object({ key_type: Type.Optional(Type.String({ maxLength: 50, pattern: NO_CONTROL })) }, { additionalProperties: true });

export const AccessGroupParams = Type.Object({ id: IdParam });
export const AccessGroupCaParams = Type.Object({ id: IdParam, ca_id: IdParam });

export const CaOutSchema = Type.Object({
  id: Type.String(),
  group_id: Type.String(),
  access_group_id: Type.String(),
  type: Type.String(),
  size: Type.Integer(),
  public_key: Type.String(),
  comment: Type.String(),
  public_key_string: Type.String(),
  x509_certificate: Type.String(),
  subject: Type.String(),
  issuer: Type.String(),
  serial: Type.String(),
  not_before: Type.String(),
  not_after: Type.String(),
  fingerprint_sha1: Type.String(),
  fingerprint_sha256: Type.String(),
  fingerprints: Type.Object({ sha1: Type.String(), sha256: Type.String() }),
});

export const CaListQuery = Type.Object({
  access_group_id: Type.Optional(Type.String({ maxLength: 200 })),
  // PrivX's validity filter; every CA privgate keeps is valid, so each value lists them all.
  filter: Type.Optional(Type.Union([Type.Literal('valid'), Type.Literal('include_invalid'), Type.Literal('all')])),
});
