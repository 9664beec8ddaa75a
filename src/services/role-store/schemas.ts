import { Type } from '@sinclair/typebox';
import { IdParam, NullableArray, PagingQuery, SortKey } from '../../schemas.js';

/**
 * A source rule (the SDK's SourceRule): a rule group (`type` GROUP, `match` ANY/ALL, `rules`) or a
 * single rule (`source`, `search_string`). Stored as sent and returned with `rules` always an
 * array (the Terraform provider compares its JSON); nested rules are checked by the repository.
 */
export const SourceRuleOut = Type.Object({
  type: Type.Optional(Type.String()),
  source: Type.Optional(Type.String()),
  search_string: Type.Optional(Type.String()),
  match: Type.Optional(Type.String()),
  rules: Type.Array(Type.Unknown()),
});

/** The role's contextual limit (the SDK's ContextualLimit, see lib/contextual-limit.ts). */
export const ContextOut = Type.Object({
  enabled: Type.Boolean(),
  block_role: Type.Optional(Type.Boolean()),
  validity: Type.Array(Type.String()),
  start_time: Type.String(),
  end_time: Type.String(),
  timezone: Type.String(),
  ip_masks: Type.Array(Type.String()),
});

export const ContextIn = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    block_role: Type.Optional(Type.Boolean()),
    validity: Type.Optional(NullableArray(Type.String({ maxLength: 20 }), { maxItems: 14 })),
    start_time: Type.Optional(Type.String({ maxLength: 16 })),
    end_time: Type.Optional(Type.String({ maxLength: 16 })),
    timezone: Type.Optional(Type.String({ maxLength: 100 })),
    ip_masks: Type.Optional(NullableArray(Type.String({ maxLength: 100 }), { maxItems: 200 })),
  },
  { additionalProperties: true },
);

export const ValidityPeriod = Type.Object({ grant_start: Type.Optional(Type.String()), grant_end: Type.Optional(Type.String()) });

/** The SDK's Role, as privgate returns it. `updated_by` is also sent as `updatedby`, the Go struct's tag. */
export const RoleOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  comment: Type.String(),
  permissions: Type.Array(Type.String()),
  explicit: Type.Boolean(),
  implicit: Type.Boolean(),
  system: Type.Boolean(),
  created: Type.String(),
  updated: Type.String(),
  author: Type.String(),
  updated_by: Type.String(),
  updatedby: Type.String(),
  access_group_id: Type.String(),
  owner_src: Type.String(),
  source_rules: SourceRuleOut,
  context: ContextOut,
  permit_agent: Type.Boolean(),
  principal_public_key_strings: Type.Array(Type.String()),
  tags: Type.Array(Type.String()),
  grant_type: Type.Optional(Type.String()),
  grant_start: Type.Optional(Type.String()),
  grant_end: Type.Optional(Type.String()),
  grant_validity_periods: Type.Array(ValidityPeriod),
  floating_length: Type.Integer(),
  member_count: Type.Integer(),
  explicit_count: Type.Integer(),
});

/**
 * A role as clients send it. The Go SDK sends its whole Role struct, read-only fields included
 * (id, created, system, member_count, principal_public_key_strings, …): those are ignored.
 */
export const RoleIn = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
    comment: Type.Optional(Type.String({ maxLength: 2000 })),
    permissions: NullableArray(Type.String({ maxLength: 100 }), { maxItems: 200 }),
    access_group_id: Type.Optional(Type.String({ maxLength: 100 })),
    source_rules: Type.Optional(Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()])),
    context: Type.Optional(Type.Union([ContextIn, Type.Null()])),
    permit_agent: Type.Optional(Type.Boolean()),
    tags: Type.Optional(NullableArray(Type.String({ maxLength: 200 }), { maxItems: 200 })),
    grant_type: Type.Optional(Type.String({ maxLength: 50, pattern: '^[A-Za-z_]*$' })),
    grant_start: Type.Optional(Type.String({ maxLength: 64 })),
    grant_end: Type.Optional(Type.String({ maxLength: 64 })),
    grant_validity_periods: Type.Optional(
      NullableArray(Type.Object({ grant_start: Type.Optional(Type.String({ maxLength: 64 })), grant_end: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: true }), { maxItems: 100 }),
    ),
    floating_length: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000 })),
  },
  { additionalProperties: true },
);

export const ROLE_SORT_KEYS = ['name', 'id', 'created', 'updated'] as const;
export const RolePagingQuery = Type.Object({ ...PagingQuery, sortkey: SortKey(ROLE_SORT_KEYS) });

/** `POST /roles/search`: the Go SDK's RoleSearch (`name`, maybe null) plus `keywords`. */
export const RoleSearchIn = Type.Object(
  {
    name: Type.Optional(NullableArray(Type.String({ maxLength: 200 }), { maxItems: 1000 })),
    keywords: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: true },
);

/** `POST /roles/resolve`: role names. */
export const RoleResolveIn = Type.Array(Type.String({ maxLength: 200 }), { maxItems: 1000 });
export const RoleRefOut = Type.Object({ id: Type.String(), name: Type.String() });

export const MemberOut = Type.Object({ id: Type.String(), type: Type.String(), name: Type.String(), principal: Type.String() });
export const MemberTypeSchema = Type.Union([Type.Literal('user'), Type.Literal('api-client')]);
export const MEMBER_SORT_KEYS = ['name', 'id', 'type'] as const;
export const MemberPagingQuery = Type.Object({ ...PagingQuery, sortkey: SortKey(MEMBER_SORT_KEYS) });
export const RoleParams = Type.Object({ id: IdParam });

/** The SDK's RolePrincipalKey: the public half only. */
export const PrincipalKeyOut = Type.Object({ id: Type.String(), public_key: Type.String() });
export const PrincipalKeyParams = Type.Object({ id: IdParam, keyId: IdParam });
/** The SDK's RolePrincipalKeyImport (`private_key`); the Python SDK's docstring says `primary_key`, accepted too. */
export const PrincipalKeyImportIn = Type.Object(
  { private_key: Type.Optional(Type.String({ maxLength: 20000 })), primary_key: Type.Optional(Type.String({ maxLength: 20000 })) },
  { additionalProperties: true },
);
