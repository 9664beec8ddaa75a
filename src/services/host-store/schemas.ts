import { Type, type Static } from '@sinclair/typebox';
import { NullableArray, PagingQuery, SortedPagingQuery } from '../../schemas.js';

// Request schemas here carry no `default` keywords on purpose: the body validator fills defaults
// in (useDefaults), and a missing key must be REQUIRED_VALUE_MISSING, not silently defaulted.

/** A byte limit: 0 = no limit, up to the largest integer a JSON number holds exactly. */
const ByteLimit = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Bytes; 0 = no limit' });

export const SshOptionsSchema = Type.Object(
  {
    shell: Type.Boolean(),
    file_transfer: Type.Boolean(),
    exec: Type.Boolean(),
    tunnels: Type.Boolean(),
    x11: Type.Boolean(),
    other: Type.Boolean(),
  },
  { additionalProperties: false },
);
export const RdpOptionsSchema = Type.Object(
  { file_transfer: Type.Boolean(), audio: Type.Boolean(), clipboard: Type.Boolean() },
  { additionalProperties: false },
);
export const WebOptionsSchema = Type.Object(
  { file_transfer: Type.Boolean(), audio: Type.Boolean(), clipboard: Type.Boolean() },
  { additionalProperties: false },
);
export const VncOptionsSchema = Type.Object({ file_transfer: Type.Boolean(), clipboard: Type.Boolean() }, { additionalProperties: false });
export const DbOptionsSchema = Type.Object({ max_bytes_download: ByteLimit, max_bytes_upload: ByteLimit }, { additionalProperties: false });

/** The complete service options object: the default service options, and an effective result. */
export const ServiceOptionsSchema = Type.Object(
  {
    ssh: SshOptionsSchema,
    rdp: RdpOptionsSchema,
    web: WebOptionsSchema,
    vnc: VncOptionsSchema,
    db: DbOptionsSchema,
  },
  { additionalProperties: false, description: 'Per-protocol service options' },
);

/** A principal's override: each block optional (left out or null = inherit the default), complete when present. */
export const ServiceOptionsOverrideSchema = Type.Object(
  {
    ssh: Type.Optional(Type.Union([SshOptionsSchema, Type.Null()])),
    rdp: Type.Optional(Type.Union([RdpOptionsSchema, Type.Null()])),
    web: Type.Optional(Type.Union([WebOptionsSchema, Type.Null()])),
    vnc: Type.Optional(Type.Union([VncOptionsSchema, Type.Null()])),
    db: Type.Optional(Type.Union([DbOptionsSchema, Type.Null()])),
  },
  { additionalProperties: false },
);

export const SERVICE_TYPES = ['SSH', 'RDP', 'VNC', 'WEB', 'DB'] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];
export const ServiceTypeSchema = Type.Union(SERVICE_TYPES.map((service) => Type.Literal(service)));

/** Printable text without control characters. */
const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f]*$';
const Text = (maxLength: number) => Type.String({ maxLength, pattern: NO_CONTROL });
/** Address-like strings: format is checked after schema validation (host name, IPv4 or IPv6). */
const AddressText = Type.String({ minLength: 1, maxLength: 253 });
/** A WEB service's allowed domain: a host name or `*.` + host name. */
const DomainText = Type.String({ minLength: 1, maxLength: 255 });

// Host objects accept keys beyond the declared ones (the Go SDK sends its whole struct, e.g.
// `toch`, `ssh_host_public_keys`, `command_restrictions`) and keep them, so a round trip loses
// nothing. Declared keys are typed strictly; service options are closed objects.
export const HostServiceSchema = Type.Object(
  {
    service: ServiceTypeSchema,
    address: AddressText,
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    source: Type.Optional(Text(200)),
    use_for_password_rotation: Type.Optional(Type.Boolean()),
    allowed_domains: Type.Optional(NullableArray(DomainText, { maxItems: 500 })),
  },
  { additionalProperties: true },
);

/** The SDK's HostRole: a role by id (the name is informative). */
const HostRoleSchema = Type.Object({ id: Type.String({ maxLength: 200 }), name: Type.Optional(Text(200)) }, { additionalProperties: true });

/** The SDK's WhiteListHandle: a whitelist by id; `{}` or an empty id is none (Go's zero value). */
const WhitelistHandleSchema = Type.Object({ id: Type.Optional(Type.String({ maxLength: 200 })), name: Type.Optional(Text(200)) }, { additionalProperties: true });

/**
 * The SDK's HostCommandRestrictions. Whitelist ids must name existing whitelists (400 otherwise);
 * a grant gives its whitelist to the users of its roles, the default whitelist applies to the others.
 */
export const CommandRestrictionsSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    rshell_variant: Type.Optional(Text(50)),
    default_whitelist: Type.Optional(Type.Union([WhitelistHandleSchema, Type.Null()])),
    whitelists: Type.Optional(
      NullableArray(Type.Object({ whitelist: WhitelistHandleSchema, roles: Type.Optional(NullableArray(HostRoleSchema, { maxItems: 500 })) }, { additionalProperties: true }), { maxItems: 200 }),
    ),
    allow_no_match: Type.Optional(Type.Boolean()),
    audit_match: Type.Optional(Type.Boolean()),
    audit_no_match: Type.Optional(Type.Boolean()),
    banner: Type.Optional(Type.String({ maxLength: 4000 })),
  },
  { additionalProperties: true },
);

export const HostPrincipalSchema = Type.Object(
  {
    principal: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
    rotate: Type.Optional(Type.Boolean()),
    use_for_password_rotation: Type.Optional(Type.Boolean()),
    use_user_account: Type.Optional(Type.Boolean()),
    source: Type.Optional(Text(200)),
    passphrase: Type.Optional(
      Type.String({
        maxLength: 1024,
        description: 'The target account\'s password: written, never returned. Empty (as GET answers it) keeps the stored one; a non-empty value replaces it.',
      }),
    ),
    service_options: Type.Optional(Type.Union([ServiceOptionsOverrideSchema, Type.Null()])),
    roles: Type.Optional(NullableArray(HostRoleSchema, { maxItems: 500 })),
    command_restrictions: Type.Optional(Type.Union([CommandRestrictionsSchema, Type.Null()])),
  },
  { additionalProperties: true },
);

/** The `disabled` string of PrivX hosts; "" (Go's zero value) reads as "FALSE". */
export const DisabledSchema = Type.Union([Type.Literal('FALSE'), Type.Literal('TRUE'), Type.Literal('BULK'), Type.Literal('')]);

const HOST_TEXT_FIELDS = {
  common_name: Type.Optional(Text(253)),
  name: Type.Optional(Text(253)),
  external_id: Type.Optional(Text(500)),
  instance_id: Type.Optional(Text(500)),
  source_id: Type.Optional(Text(200)),
  access_group_id: Type.Optional(Text(200)),
  organization: Type.Optional(Text(500)),
  organizational_unit: Type.Optional(Text(500)),
  zone: Type.Optional(Text(200)),
  host_type: Type.Optional(Text(200)),
  host_classification: Type.Optional(Text(200)),
  comment: Type.Optional(Type.String({ maxLength: 4000 })),
  distinguished_name: Type.Optional(Text(500)),
  cloud_provider: Type.Optional(Text(200)),
  cloud_provider_region: Type.Optional(Text(200)),
};

/** POST/PUT body. Server fields a client echoes back (id, created, …) are accepted and ignored. */
export const HostInSchema = Type.Object(
  {
    id: Type.Optional(Type.String({ maxLength: 200 })),
    ...HOST_TEXT_FIELDS,
    addresses: Type.Optional(NullableArray(AddressText, { maxItems: 200 })),
    disabled: Type.Optional(DisabledSchema),
    services: Type.Optional(NullableArray(HostServiceSchema, { maxItems: 200 })),
    principals: Type.Optional(NullableArray(HostPrincipalSchema, { maxItems: 1000 })),
    tags: Type.Optional(NullableArray(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }), { maxItems: 200 })),
    scope: Type.Optional(NullableArray(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }), { maxItems: 100 })),
    deployable: Type.Optional(Type.Boolean()),
    password_rotation_enabled: Type.Optional(Type.Boolean()),
    tofu: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    toch: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    host_certificate_raw: Type.Optional(Type.String({ maxLength: 20000 })),
    created: Type.Optional(Type.String({ maxLength: 100 })),
    updated: Type.Optional(Type.String({ maxLength: 100 })),
    updated_by: Type.Optional(Type.String({ maxLength: 200 })),
    author: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: true },
);
export type HostIn = Static<typeof HostInSchema>;

const ServiceOut = Type.Object(
  {
    service: Type.String(),
    address: Type.String(),
    port: Type.Integer(),
    source: Type.Optional(Type.String()),
    use_for_password_rotation: Type.Optional(Type.Boolean()),
    allowed_domains: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: true },
);
const OptionsOverrideOut = Type.Object(
  {
    ssh: Type.Optional(Type.Union([SshOptionsSchema, Type.Null()])),
    rdp: Type.Optional(Type.Union([RdpOptionsSchema, Type.Null()])),
    web: Type.Optional(Type.Union([WebOptionsSchema, Type.Null()])),
    vnc: Type.Optional(Type.Union([VncOptionsSchema, Type.Null()])),
    db: Type.Optional(Type.Union([DbOptionsSchema, Type.Null()])),
  },
  { additionalProperties: false },
);
const PrincipalOut = Type.Object(
  {
    principal: Type.String(),
    rotate: Type.Optional(Type.Boolean()),
    use_for_password_rotation: Type.Optional(Type.Boolean()),
    source: Type.Optional(Type.String()),
    service_options: Type.Optional(Type.Union([OptionsOverrideOut, Type.Null()])),
  },
  { additionalProperties: true },
);

/** The SDK's HostCertificateInfo: the parsed `host_certificate_raw`. */
const HostCertificateInfoSchema = Type.Object({
  subject: Type.String(),
  issuer: Type.String(),
  serial: Type.String(),
  not_before: Type.String(),
  not_after: Type.String(),
  dns_names: Type.Array(Type.String()),
  email_addresses: Type.Array(Type.String()),
  ip_addresses: Type.Array(Type.String()),
  uris: Type.Array(Type.String()),
  fingerprint_sha1: Type.String(),
  fingerprint_sha256: Type.String(),
});

/**
 * A host as GET answers it: what was sent, plus the server fields (`status`, `deleted`,
 * `to_be_deleted`, `host_certificate`) and the SDK's fields a client left out at their zero values.
 */
export const HostOutSchema = Type.Object(
  {
    id: Type.String(),
    common_name: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    external_id: Type.Optional(Type.String()),
    instance_id: Type.Optional(Type.String()),
    source_id: Type.Optional(Type.String()),
    access_group_id: Type.Optional(Type.String()),
    organization: Type.Optional(Type.String()),
    organizational_unit: Type.Optional(Type.String()),
    zone: Type.Optional(Type.String()),
    host_type: Type.Optional(Type.String()),
    host_classification: Type.Optional(Type.String()),
    comment: Type.Optional(Type.String()),
    addresses: Type.Array(Type.String()),
    disabled: Type.String(),
    services: Type.Array(ServiceOut),
    principals: Type.Array(PrincipalOut),
    tags: Type.Array(Type.String()),
    scope: Type.Array(Type.String()),
    deployable: Type.Boolean(),
    status: Type.Array(Type.Object({ k: Type.String(), v: Type.String() })),
    deleted: Type.Boolean(),
    to_be_deleted: Type.Boolean(),
    host_certificate_raw: Type.String(),
    host_certificate: Type.Optional(HostCertificateInfoSchema),
    password_rotation_enabled: Type.Boolean(),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
    updated_by: Type.String(),
    author: Type.String(),
  },
  { additionalProperties: true },
);

export const HOST_SORT_KEYS = ['name', 'common_name', 'created', 'updated'] as const;
export type HostSortKey = (typeof HOST_SORT_KEYS)[number];

/** offset/limit/sortkey/sortdir of the host list and search (limit at most 1000, default 50). */
export const HostPagingQuery = SortedPagingQuery(HOST_SORT_KEYS);

/** One exact value of a search filter. */
const SearchValue = Type.String({ maxLength: 1000 });
/** Any of these values (the SDK's `[]string` filters; null = no filter). */
const SearchValues = NullableArray(SearchValue, { maxItems: 100 });

/**
 * Search body: the Go SDK's HostSearch. List filters match any of their values; filters combine
 * with AND; an empty string or list is no filter (Go's zero values). `service` may also be a single
 * service. Unknown filters are rejected rather than ignored, so a filter privgate does not know
 * never silently widens the result.
 */
export const HostSearchSchema = Type.Object(
  {
    id: Type.Optional(Type.String({ maxLength: 200 })),
    keywords: Type.Optional(Type.String({ maxLength: 1000 })),
    service: Type.Optional(Type.Union([ServiceTypeSchema, NullableArray(ServiceTypeSchema, { maxItems: 5 })])),
    tags: Type.Optional(NullableArray(Type.String({ maxLength: 200 }), { maxItems: 50 })),
    common_name: Type.Optional(SearchValues),
    address: Type.Optional(SearchValues),
    external_id: Type.Optional(SearchValue),
    instance_id: Type.Optional(SearchValue),
    source_id: Type.Optional(SearchValue),
    distinguished_name: Type.Optional(SearchValues),
    organization: Type.Optional(SearchValues),
    organizational_unit: Type.Optional(SearchValues),
    zone: Type.Optional(SearchValues),
    host_type: Type.Optional(SearchValues),
    host_classification: Type.Optional(SearchValues),
    role: Type.Optional(SearchValues),
    scope: Type.Optional(SearchValues),
    access_group_ids: Type.Optional(SearchValues),
    cloud_providers: Type.Optional(SearchValues),
    cloud_provider_regions: Type.Optional(SearchValues),
    statuses: Type.Optional(SearchValues),
    principal: Type.Optional(SearchValues),
    port: Type.Optional(NullableArray(Type.Integer({ minimum: 1, maximum: 65535 }), { maxItems: 100 })),
    deployable: Type.Optional(Type.Boolean()),
    disabled: Type.Optional(DisabledSchema),
    ignore_disabled_sources: Type.Optional(Type.Boolean({ description: 'Accepted; privgate has no host sources to disable' })),
    filter: Type.Optional(Type.String({ maxLength: 0, description: 'Only empty: privgate has no named host filters' })),
  },
  { additionalProperties: false },
);
export type HostSearch = Static<typeof HostSearchSchema>;

const SourceSchema = Type.Union([Type.Literal('principal'), Type.Literal('default')]);

export const EffectiveServiceOptionsSchema = Type.Object(
  {
    host_id: Type.String(),
    principal: Type.String(),
    options: ServiceOptionsSchema,
    sources: Type.Object({ ssh: SourceSchema, rdp: SourceSchema, web: SourceSchema, vnc: SourceSchema, db: SourceSchema }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);

export const HostResolveSchema = Type.Object(
  {
    service: ServiceTypeSchema,
    address: AddressText,
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: '0 or left out: any port' })),
  },
  { additionalProperties: false },
);

export const HostDeployableSchema = Type.Object({ deployable: Type.Boolean() }, { additionalProperties: false });
export const HostDisabledSchema = Type.Object({ disabled: Type.Boolean() }, { additionalProperties: false });

/** `POST /hosts/deploy`'s answer: the host's id and whether it was "created" or "updated". */
export const HostDeployResponse = Type.Object({ id: Type.String(), action: Type.Union([Type.Literal('created'), Type.Literal('updated')]) });

/** offset/limit/query/sortdir of `GET /hosts/tags`. */
export const HostTagsQuery = Type.Object({
  offset: PagingQuery.offset,
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  query: Type.Optional(Type.String({ maxLength: 200 })),
  sortdir: PagingQuery.sortdir,
});

/** A session host certificate (the SDK's SessionHostCertificateResponse). */
export const SessionHostCertificateSchema = Type.Object({
  id: Type.String(),
  hostname: Type.String(),
  host_certificate: Type.Union([HostCertificateInfoSchema, Type.Null()]),
  host_certificate_raw: Type.String(),
});

/** `GET /hosts/{id}/access`'s query (privgate extension). */
export const HostAccessQuery = Type.Object({
  user: Type.String({ minLength: 1, maxLength: 200, description: 'A local user\'s id or username' }),
  service: ServiceTypeSchema,
  principal: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'One account; left out: every principal of the host' })),
  at: Type.Optional(Type.String({ format: 'date-time', description: 'When (RFC 3339); default now' })),
  address: Type.Optional(Type.String({ maxLength: 100, description: 'The user\'s client address; left out: unknown (roles limited to address masks do not apply)' })),
});

const AccessRoleHandle = Type.Object({ id: Type.String(), name: Type.String() });
const AccessWhitelist = Type.Object({ id: Type.String(), name: Type.String(), type: Type.String(), patterns: Type.Array(Type.String()) });

/** One principal's decision. */
export const AccessDecisionSchema = Type.Object({
  principal: Type.String(),
  allowed: Type.Boolean(),
  reason: Type.String({ description: 'allowed, host_disabled, user_disabled, service_not_on_host, principal_not_on_host, no_role or roles_excluded_by_context' }),
  message: Type.String(),
  via_roles: Type.Array(AccessRoleHandle),
  excluded_roles: Type.Array(AccessRoleHandle),
  use_user_account: Type.Boolean(),
  has_passphrase: Type.Boolean(),
  service_options: Type.Union([ServiceOptionsSchema, Type.Null()]),
  command_restrictions: Type.Union([
    Type.Object({
      enabled: Type.Boolean(),
      rshell_variant: Type.String(),
      banner: Type.String(),
      allow_no_match: Type.Boolean(),
      audit_match: Type.Boolean(),
      audit_no_match: Type.Boolean(),
      default_whitelist: Type.Union([AccessWhitelist, Type.Null()]),
      whitelists: Type.Array(AccessWhitelist),
      effective_whitelists: Type.Array(AccessWhitelist),
    }),
    Type.Null(),
  ]),
});

/** `GET /hosts/{id}/access`'s answer. */
export const HostAccessResponse = Type.Object({
  host_id: Type.String(),
  user: Type.Object({ id: Type.String(), username: Type.String() }),
  service: Type.String(),
  at: Type.String(),
  address: Type.String(),
  allowed: Type.Boolean({ description: 'Whether some principal is allowed' }),
  decisions: Type.Array(AccessDecisionSchema),
});
