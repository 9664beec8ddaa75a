import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ERROR_CODES } from './errors.js';

/** The PrivX error envelope, declared on every route's 4xx/5xx responses. */
export const ErrorSchema = Type.Object(
  {
    error_code: Type.Union(ERROR_CODES.map((code) => Type.Literal(code))),
    error_message: Type.String(),
    property: Type.Optional(Type.String()),
    details: Type.Optional(Type.Array(Type.Unknown())),
  },
  { description: 'PrivX error envelope' },
);
export type ErrorBody = Static<typeof ErrorSchema>;

/** Error responses a route can answer; 401/403 are added for every protected route. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorSchema> {
  const responses: Record<number, typeof ErrorSchema> = {};
  for (const status of statuses) responses[status] = ErrorSchema;
  return responses;
}

export const IdResponse = Type.Object({ id: Type.String() }, { additionalProperties: false });

/** A path id: percent-decoded by Fastify, bounded so absurd ids are a 400, not a query. */
export const IdParam = Type.String({ minLength: 1, maxLength: 200 });

/** PrivX paging query parameters. */
export const PagingQuery = {
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  sortdir: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc'), Type.Literal('ASC'), Type.Literal('DESC')])),
};

/** An optional `sortkey` that must be one of `keys`. */
export function SortKey<K extends string>(keys: readonly K[]) {
  return Type.Optional(Type.Union(keys.map((key) => Type.Literal(key))));
}

/** offset, limit (at most 1000), a `sortkey` among `keys` and sortdir: the newer lists' query. */
export function SortedPagingQuery<K extends string>(keys: readonly K[]) {
  return Type.Object({ offset: PagingQuery.offset, limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })), sortkey: SortKey(keys), sortdir: PagingQuery.sortdir });
}

/** `{count, items}`, the shape of every PrivX list. */
export function ListResponse<T extends TSchema>(item: T) {
  return Type.Object({ count: Type.Integer(), items: Type.Array(item) });
}

/** An RFC 3339 timestamp string. */
export const Timestamp = Type.String({ format: 'date-time' });

/** A string array that clients may send as `null` (Go SDKs do); read as empty. */
export function NullableArray<T extends TSchema>(item: T, options: { maxItems?: number } = {}) {
  return Type.Union([Type.Array(item, { maxItems: options.maxItems ?? 1000 }), Type.Null()]);
}
