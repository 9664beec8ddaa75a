import { Type, type Static } from '@sinclair/typebox';
import { AuditBatchSchema, MAX_AUDIT_BATCH } from '../../lib/contracts/audit-batch.js';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, ListResponse } from '../../schemas.js';
import { auditEventCodes, eventName } from './event-codes.js';
import { listAuditEvents, type AuditEventPage } from './repository.js';
import { AuditEventCodesOut, AuditEventOut, AuditEventSearchBody, AuditListQuery, AuditPagingQuery } from './schemas.js';
import { auditSearchFilter, ingestAuditBatch, instantOf, keywordsOf } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

const tags = ['audit'];

function pageOf(query: Static<typeof AuditPagingQuery>): AuditEventPage {
  return { offset: query.offset ?? 0, limit: query.limit ?? 50, sortkey: query.sortkey ?? 'created', descending: (query.sortdir ?? 'desc').toLowerCase() === 'desc' };
}

const PAGING_DESCRIPTION =
  '`sortkey`: created (default), event_name, type, outcome, service_id, reporter, principal_id, principal_name or source_address; ' +
  '`sortdir`: ASC or DESC (default DESC); `offset`, `limit` (default 50, at most 1000). `fuzzycount` is accepted; the count is exact.';

/** `/auditevents`: the audit log in PrivX's shape, its search and code table, and the batch ingest of registered web proxies. */
export function registerAuditEventRoutes(app: TypedApp): void {
  const { database, clock } = app.context;
  const db = database.db;

  app.get(
    '/auditevents',
    {
      config: { permissions: ['admin', 'logs-view'] },
      schema: {
        summary: 'Audit events, filtered by type, outcome, principal, object, reporter, keywords (`query`) and time (from inclusive, to exclusive)',
        description: PAGING_DESCRIPTION,
        tags,
        querystring: AuditListQuery,
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
          from: instantOf(query.from, 'from'),
          to: instantOf(query.to, 'to'),
          keywords: keywordsOf(query.query),
        },
        pageOf(query),
      );
    },
  );

  app.post(
    '/auditevents/search',
    {
      config: { permissions: ['admin', 'logs-view'] },
      // No body (or an empty one with a JSON content type) searches with no filter.
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        summary: 'Search audit events',
        description:
          'The SDK\'s AuditEventSearch; an empty string is no filter. `keywords`: whitespace- or comma-separated words, each a case-insensitive substring of ' +
          'the type, principal, client address, object id or details. `user_id`: the acting principal. `host_id`, `access_group_id`, `session_id`: events about ' +
          'that object (or naming it in their details); `connection_id`, `source_id`: events naming it in their details. `start_time` inclusive, `end_time` exclusive. ' +
          'privgate extensions: `users` (principal ids or names, any of), `event_ids` (codes, any of), `services` (service names, any of). ' +
          PAGING_DESCRIPTION,
        tags,
        querystring: AuditPagingQuery,
        body: AuditEventSearchBody,
        response: { 200: ListResponse(AuditEventOut), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listAuditEvents(db, auditSearchFilter(request.body, request.query.query), pageOf(request.query)),
  );

  app.get(
    '/auditevents/codes',
    {
      config: { permissions: ['admin', 'logs-view'] },
      schema: {
        summary: 'The audit event codes: a map from each event_id to its name, description and service',
        tags,
        response: { 200: AuditEventCodesOut, ...errorResponses(401, 403) },
      },
    },
    async () => {
      const codes: Static<typeof AuditEventCodesOut> = {};
      for (const code of auditEventCodes()) {
        codes[String(code.event_id)] = { event_id: code.event_id, event_name: eventName(code.type), event_desc: code.description, service_name: code.service };
      }
      return codes;
    },
  );

  app.post(
    '/auditevents/batch',
    {
      config: { permissions: ['service'] },
      schema: {
        summary: 'Ingest a batch of audit events from a registered web proxy (the reporter is its trusted client id)',
        description: `Up to ${MAX_AUDIT_BATCH} events; all are stored or none. Event types must match ^web_[a-z0-9_]{1,60}$.`,
        tags,
        body: AuditBatchSchema,
        response: { 200: Type.Object({ count: Type.Integer() }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => ({ count: await ingestAuditBatch(db, clock, principalOf(request).id, request.body.events) }),
  );
}
