import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { invalid } from '../../errors.js';
import { AuditBatchSchema, MAX_AUDIT_BATCH, type AuditBatch } from '../../lib/contracts/audit-batch.js';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, ListResponse } from '../../schemas.js';
import { registerStatusRoute } from '../status.js';
import { insertAuditEvents, listAuditEvents } from './repository.js';

const AuditEventOut = Type.Object({
  id: Type.String(),
  created: Type.String(),
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

const ListQuery = Type.Object({
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  outcome: Type.Optional(Type.String({ minLength: 1, maxLength: 20 })),
  principal_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  object_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  reporter: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
});

/** Largest `details` object per event, as JSON bytes. */
export const MAX_INGEST_DETAILS_BYTES = 8192;
/** How far in the future an event's `at` may lie (clock skew between proxy and control plane). */
const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

/** `/monitor-service/api/v1`: the audit log. */
export default async function monitorServiceService(app: FastifyInstance): Promise<void> {
  registerStatusRoute(app, 'monitor-service');
  const { database, clock } = app.context;
  const db = database.db;

  app.get(
    '/auditevents',
    {
      config: { permissions: ['admin', 'logs-view'] },
      schema: {
        summary: 'Audit events, newest first, filtered by type, outcome, principal, object, reporter and time (from inclusive, to exclusive)',
        tags: ['audit'],
        querystring: ListQuery,
        response: { 200: ListResponse(AuditEventOut), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const query = request.query as Static<typeof ListQuery>;
      return listAuditEvents(
        db,
        {
          type: query.type,
          outcome: query.outcome,
          principal_id: query.principal_id,
          object_id: query.object_id,
          reporter: query.reporter,
          from: query.from === undefined ? undefined : new Date(query.from),
          to: query.to === undefined ? undefined : new Date(query.to),
        },
        query.offset ?? 0,
        query.limit ?? 50,
      );
    },
  );

  app.post(
    '/auditevents/batch',
    {
      config: { permissions: ['service'] },
      schema: {
        summary: 'Ingest a batch of audit events from a registered web proxy (the reporter is its trusted client id)',
        description: `Up to ${MAX_AUDIT_BATCH} events; all are stored or none. Event types must match ^web_[a-z0-9_]{1,60}$.`,
        tags: ['audit'],
        body: AuditBatchSchema,
        response: { 200: Type.Object({ count: Type.Integer() }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const reporter = principalOf(request);
      const { events } = request.body as AuditBatch;
      const latest = clock.now().getTime() + MAX_FUTURE_SKEW_MS;
      const prepared = events.map((event, index) => {
        const at = new Date(event.at);
        if (at.getTime() > latest) throw invalid('VALUE_OUT_OF_BOUNDS', `events[${index}].at lies in the future`, `events[${index}].at`);
        const details = event.details ?? {};
        if (Buffer.byteLength(JSON.stringify(details), 'utf8') > MAX_INGEST_DETAILS_BYTES) {
          throw invalid('VALUE_OUT_OF_BOUNDS', `events[${index}].details is larger than ${MAX_INGEST_DETAILS_BYTES} bytes`, `events[${index}].details`);
        }
        if (event.principal_id === undefined && (event.principal_name !== undefined || event.principal_type !== undefined)) {
          throw invalid('REQUIRED_VALUE_MISSING', `events[${index}].principal_id is required with principal_name/principal_type`, `events[${index}].principal_id`);
        }
        return {
          type: event.type,
          outcome: event.outcome,
          at,
          principal: event.principal_id === undefined ? undefined : { type: event.principal_type ?? 'user', id: event.principal_id, name: event.principal_name ?? null },
          sourceAddress: event.source_address,
          objectType: event.object_type,
          objectId: event.object_id,
          details,
        };
      });
      const ids = await insertAuditEvents(db, reporter.id, prepared);
      return { count: ids.length };
    },
  );
}
