import { Type } from '@sinclair/typebox';
import { AuditBatchSchema, MAX_AUDIT_BATCH } from '../../lib/contracts/audit-batch.js';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, ListResponse } from '../../schemas.js';
import { listAuditEvents } from './repository.js';
import { ingestAuditBatch } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

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

/** `/auditevents`: the audit log, and the batch ingest of registered web proxies. */
export function registerAuditEventRoutes(app: TypedApp): void {
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
      const query = request.query;
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
    async (request) => ({ count: await ingestAuditBatch(db, clock, principalOf(request).id, request.body.events) }),
  );
}
