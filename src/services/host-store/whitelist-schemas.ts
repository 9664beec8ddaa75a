import { Type, type Static } from '@sinclair/typebox';
import { IdParam, NullableArray, SortedPagingQuery } from '../../schemas.js';
import { MAX_PATTERN_LENGTH } from '../../lib/command-patterns.js';

/** Printable text without control characters. */
const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f]*$';
/** Server fields a client echoes back from GET: accepted (any value) and ignored. */
const Echoed = Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()]));

export const WHITELIST_SORT_KEYS = ['id', 'name', 'type', 'created', 'updated'] as const;
export type WhitelistSortKey = (typeof WHITELIST_SORT_KEYS)[number];

/** Most patterns one whitelist holds. */
export const MAX_WHITELIST_PATTERNS = 500;

/** One pattern: single-line text; whether it compiles for the whitelist's type is checked after the schema. */
const PatternText = Type.String({ minLength: 1, maxLength: MAX_PATTERN_LENGTH, pattern: NO_CONTROL });

/**
 * `glob` or `regex`; empty or absent = `glob` (the Terraform provider's default; the Go SDK sends
 * `""` when unset).
 */
const WhitelistTypeSchema = Type.Union([Type.Literal('glob'), Type.Literal('regex'), Type.Literal('')]);

/**
 * POST/PUT body: the SDK's Whitelist struct. A PUT that echoes a GET is accepted, its server
 * fields ignored; unknown keys are accepted and ignored, as PrivX does.
 */
export const WhitelistInSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
    comment: Type.Optional(Type.Union([Type.String({ maxLength: 4000 }), Type.Null()])),
    type: Type.Optional(WhitelistTypeSchema),
    whitelist_patterns: Type.Optional(NullableArray(PatternText, { maxItems: MAX_WHITELIST_PATTERNS })),
    id: Echoed,
    author: Echoed,
    created: Echoed,
    updated: Echoed,
    updated_by: Echoed,
  },
  { additionalProperties: true },
);
export type WhitelistIn = Static<typeof WhitelistInSchema>;

export const WhitelistOutSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  comment: Type.String(),
  type: Type.String(),
  whitelist_patterns: Type.Array(Type.String()),
  author: Type.String(),
  created: Type.String({ format: 'date-time' }),
  updated: Type.String({ format: 'date-time' }),
  updated_by: Type.String(),
});
export type WhitelistOut = Static<typeof WhitelistOutSchema>;

export const WhitelistPagingQuery = SortedPagingQuery(WHITELIST_SORT_KEYS);
export type WhitelistPaging = Static<typeof WhitelistPagingQuery>;

/** Search body: the SDK's WhitelistSearch (`keywords` only; unknown filters are refused rather than silently ignored). */
export const WhitelistSearchSchema = Type.Object({ keywords: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false });

/** The whitelist inside an evaluate request: its patterns (and type) are what is evaluated; nothing else is required. */
const EvaluatedWhitelistSchema = Type.Object(
  {
    id: Type.Optional(Type.String({ maxLength: 200 })),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    comment: Type.Optional(Type.Union([Type.String({ maxLength: 4000 }), Type.Null()])),
    type: Type.Optional(WhitelistTypeSchema),
    whitelist_patterns: Type.Optional(NullableArray(PatternText, { maxItems: MAX_WHITELIST_PATTERNS })),
    author: Echoed,
    created: Echoed,
    updated: Echoed,
    updated_by: Echoed,
  },
  { additionalProperties: true },
);

/** Most commands one evaluate request holds, and the longest command. */
export const MAX_EVALUATED_COMMANDS = 100;
export const MAX_COMMAND_LENGTH = 4096;

/** The SDK's WhitelistEvaluate. */
export const WhitelistEvaluateSchema = Type.Object(
  {
    whitelist: EvaluatedWhitelistSchema,
    // Accepted and ignored: evaluate matches each command as one statement (docs/whitelists.md).
    rshell_variant: Type.Optional(Type.Union([Type.String({ maxLength: 50, pattern: NO_CONTROL }), Type.Null()])),
    commands: NullableArray(Type.String({ maxLength: MAX_COMMAND_LENGTH }), { maxItems: MAX_EVALUATED_COMMANDS }),
  },
  { additionalProperties: true },
);
export type WhitelistEvaluateIn = Static<typeof WhitelistEvaluateSchema>;

/** The SDK's WhitelistEvaluateResponse. */
export const WhitelistEvaluateResponseSchema = Type.Object({
  whitelist_pattern_results: Type.Array(
    Type.Object({
      whitelist_pattern: Type.String(),
      status: Type.Array(Type.Union([Type.Literal('MATCH'), Type.Literal('NO_MATCH')]), {
        description: 'One entry per request command, in order: whether this pattern matches it',
      }),
    }),
  ),
  command_results: Type.Array(Type.Object({ command: Type.String(), allowed: Type.Boolean() })),
});
export type WhitelistEvaluateOut = Static<typeof WhitelistEvaluateResponseSchema>;

export const WhitelistParams = Type.Object({ id: IdParam });
