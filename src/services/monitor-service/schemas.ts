import { Type } from '@sinclair/typebox';
import { NullableArray, PagingQuery, Timestamp } from '../../schemas.js';
import { AUDIT_SERVICES } from './event-codes.js';
import { AUDIT_SORT_KEYS, type AuditSortKey } from './repository.js';

/** An audit event: the PrivX SDK's `AuditEvent` fields first, then privgate's own. */
export const AuditEventOut = Type.Object({
  service_id: Type.String({ description: 'Who reported it: `control-plane`, or the trusted client id of a web proxy' }),
  service_name: Type.String({ description: 'The PrivX service the event belongs to (see /auditevents/codes)' }),
  event_id: Type.String({ description: 'The numeric event code as a decimal string ("0" for a type not in the code table)' }),
  event_name: Type.String(),
  created: Type.String(),
  message: Type.Record(Type.String(), Type.String(), {
    description: 'Who (user_id, user_name, user_type), from where (client_address), what (type, outcome, object_type, object_id), then the detail fields as strings',
  }),
  id: Type.String(),
  type: Type.String(),
  outcome: Type.String(),
  principal_type: Type.Optional(Type.String()),
  principal_id: Type.Optional(Type.String()),
  principal_name: Type.Optional(Type.String()),
  source_address: Type.Optional(Type.String()),
  object_type: Type.Optional(Type.String()),
  object_id: Type.Optional(Type.String()),
  details: Type.Record(Type.String(), Type.Unknown()),
  reporter: Type.String(),
});

const SORT_KEYS = Object.keys(AUDIT_SORT_KEYS) as AuditSortKey[];
const SortKey = Type.Union(SORT_KEYS.map((key) => Type.Literal(key)));

/** Paging and order, as the SDKs send them (`fuzzycount` is accepted; the count is always exact), and the Python SDK's `query`. */
export const AuditPagingQuery = Type.Object({
  offset: PagingQuery.offset,
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  sortkey: Type.Optional(SortKey),
  sortdir: PagingQuery.sortdir,
  fuzzycount: Type.Optional(Type.Boolean()),
  query: Type.Optional(Type.String({ maxLength: 1000, description: 'Keywords, as the Python SDK sends them' })),
});

export const AuditListQuery = Type.Object({
  ...AuditPagingQuery.properties,
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  outcome: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
  principal_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  object_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  reporter: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  from: Type.Optional(Timestamp),
  to: Type.Optional(Timestamp),
});

const Id = Type.String({ maxLength: 200 });
const OptionalTime = Type.Union([Type.Literal(''), Timestamp]);

/** The SDK's `AuditEventSearch` (empty strings mean "no filter"), plus privgate's list filters. */
export const AuditEventSearchBody = Type.Object(
  {
    keywords: Type.Optional(Type.String({ maxLength: 1000 })),
    user_id: Type.Optional(Id),
    connection_id: Type.Optional(Id),
    host_id: Type.Optional(Id),
    source_id: Type.Optional(Id),
    session_id: Type.Optional(Id),
    access_group_id: Type.Optional(Id),
    start_time: Type.Optional(OptionalTime),
    end_time: Type.Optional(OptionalTime),
    users: Type.Optional(NullableArray(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 100 })),
    event_ids: Type.Optional(NullableArray(Type.Integer({ minimum: 0, maximum: 1_000_000 }), { maxItems: 100 })),
    services: Type.Optional(NullableArray(Type.Union(AUDIT_SERVICES.map((service) => Type.Literal(service))), { maxItems: 100 })),
  },
  { additionalProperties: false },
);

/** `GET /auditevents/codes`: the SDK's `AuditEventCodes`, a map from the code (as a JSON key) to its info. */
export const AuditEventCodesOut = Type.Record(
  Type.String(),
  Type.Object({ event_id: Type.Integer(), event_name: Type.String(), event_desc: Type.String(), service_name: Type.String() }),
);

const DatabaseHealth = Type.Object({ dialect: Type.String(), reachable: Type.Boolean() });

/** One component: a control-plane node (only this one is known) or a registered data-plane client. */
export const ComponentOut = Type.Object({
  hostname: Type.String(),
  component: Type.String({ description: '`control-plane`, or the trusted client type (ICAP, EXTENDER, CARRIER, …)' }),
  id: Type.Optional(Type.String()),
  status: Type.String({ description: '`ok`, `degraded` (database unreachable) or `unknown` (not tracked)' }),
  this_node: Type.Boolean(),
  version: Type.Optional(Type.String()),
  start_time: Type.Optional(Type.String()),
  uptime_seconds: Type.Optional(Type.Integer()),
  database: Type.Optional(DatabaseHealth),
});

export const InstanceStatusOut = Type.Object({
  status: Type.String({ description: '`ok`, or `degraded` when this node cannot reach the database' }),
  version: Type.String(),
  hostname: Type.String(),
  start_time: Type.String(),
  uptime_seconds: Type.Integer(),
  database: DatabaseHealth,
  nodes: Type.Array(ComponentOut),
  nodes_tracked: Type.Boolean({ description: 'false: control-plane nodes sharing the database do not register, so only this node is listed' }),
});

export const ClockOut = Type.Object({ time_utc: Type.String() });
