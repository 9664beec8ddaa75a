/**
 * The audit-event batch contract (`POST /monitor-service/api/v1/auditevents/batch`): what a data
 * plane reports about what it did. One TypeBox schema: the monitor-service route validates the
 * body with it, the OpenAPI document is generated from it, and the data planes' senders type
 * their batches with the types derived from it.
 */
import { Type, type Static } from '@sinclair/typebox';

/** Largest batch a data-plane component may send at once. */
export const MAX_AUDIT_BATCH = 1000;

/**
 * One reported event. Types must start with `web_` (e.g. `web_request`, `web_file_transfer`) so
 * a proxy cannot pass its events off as control-plane ones; `principal_*` name the user the
 * decision was about (from the web-session token).
 */
export const AuditBatchEventSchema = Type.Object(
  {
    type: Type.String({ pattern: '^web_[a-z0-9_]{1,60}$' }),
    outcome: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('success'), Type.Literal('failure')]),
    /** RFC 3339. */
    at: Type.String({ format: 'date-time' }),
    principal_type: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('api-client')])),
    principal_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    principal_name: Type.Optional(Type.String({ maxLength: 200 })),
    source_address: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    object_type: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    object_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    details: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), { maxProperties: 50 })),
  },
  { additionalProperties: false },
);

/** The request body: 1 to {@link MAX_AUDIT_BATCH} events, all stored or none. */
export const AuditBatchSchema = Type.Object(
  { events: Type.Array(AuditBatchEventSchema, { minItems: 1, maxItems: MAX_AUDIT_BATCH }) },
  { additionalProperties: false },
);

export type AuditBatchEvent = Static<typeof AuditBatchEventSchema>;
export type AuditBatch = Static<typeof AuditBatchSchema>;
