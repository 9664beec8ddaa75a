import { Type, type Static } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdResponse, ListResponse } from '../../schemas.js';
import type { Scope } from '../../access.js';
import { getAccessGroup, listAccessGroups, type AccessGroupPage } from './access-group-repository.js';
import {
  AccessGroupCaParams,
  AccessGroupInSchema,
  AccessGroupOutSchema,
  AccessGroupPagingQuery,
  AccessGroupParams,
  AccessGroupSearchSchema,
  CaRenewalSchema,
  type AccessGroupPaging,
} from './access-group-schemas.js';
import {
  accessGroupObject,
  createAccessGroupAs,
  deleteAccessGroupAs,
  renewAccessGroupCaAs,
  revokeAccessGroupCaAs,
  updateAccessGroupAs,
  type AccessGroupDeps,
} from './access-group-use-cases.js';
import type { TypedApp } from '../typed-app.js';

/** Reading groups: their managers, and whoever edits what belongs to a group (hosts, roles). */
const READ_SCOPES: readonly Scope[] = ['access-groups-manage', 'hosts-view', 'hosts-manage', 'roles-view', 'roles-manage'];
const MANAGE_SCOPES: readonly Scope[] = ['access-groups-manage'];
const tags = ['access-groups'];

function pageOf(query: AccessGroupPaging): AccessGroupPage {
  // PrivX sorts by id unless told otherwise; its limit defaults to 100.
  return { offset: query.offset ?? 0, limit: query.limit ?? 100, sortkey: query.sortkey ?? 'id', descending: query.sortdir?.toLowerCase() === 'desc' };
}

async function listed(deps: AccessGroupDeps, query: AccessGroupPaging, keywords?: string) {
  const page = await listAccessGroups(deps.database.db, pageOf(query), keywords);
  return { count: page.count, items: page.items.map(accessGroupObject) };
}

/** `/accessgroups`: access groups (CRUD, search) and their CA keys (renew, revoke). */
export function registerAccessGroupRoutes(app: TypedApp): void {
  const deps: AccessGroupDeps = app.context;
  const db = deps.database.db;

  app.get(
    '/accessgroups',
    {
      config: { permissions: READ_SCOPES },
      schema: {
        summary: 'List access groups',
        description: 'Sorted by `sortkey` (id, name, created or updated; default id) and `sortdir`; `limit` defaults to 100, at most 1000.',
        tags,
        querystring: AccessGroupPagingQuery,
        response: { 200: ListResponse(AccessGroupOutSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listed(deps, request.query),
  );

  app.post(
    '/accessgroups',
    {
      config: { permissions: MANAGE_SCOPES },
      schema: { summary: 'Create an access group (with its first CA key)', tags, body: AccessGroupInSchema, response: { 201: IdResponse, ...errorResponses(400, 401, 403, 409) } },
    },
    async (request, reply) => {
      const id = await createAccessGroupAs(deps, principalOf(request), request.body);
      return reply.code(201).send({ id });
    },
  );

  app.post(
    '/accessgroups/search',
    {
      config: { permissions: READ_SCOPES },
      // No body (or an empty one with a JSON content type) searches with no filter.
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        summary: 'Search access groups',
        description: '`keywords`: whitespace- or comma-separated terms, each a case-insensitive substring of the name or comment; a group matches every term. Paging as for the list.',
        tags,
        querystring: AccessGroupPagingQuery,
        body: AccessGroupSearchSchema,
        response: { 200: ListResponse(AccessGroupOutSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listed(deps, request.query, request.body.keywords),
  );

  app.get(
    '/accessgroups/:id',
    {
      config: { permissions: READ_SCOPES },
      schema: { summary: 'Get an access group', tags, params: AccessGroupParams, response: { 200: AccessGroupOutSchema, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => accessGroupObject(await getAccessGroup(db, request.params.id)),
  );

  app.put(
    '/accessgroups/:id',
    {
      config: { permissions: MANAGE_SCOPES },
      schema: {
        summary: 'Update an access group (a PUT of what GET answered is accepted; `primary_ca_id` picks the signing CA among its CA keys)',
        tags,
        params: AccessGroupParams,
        body: AccessGroupInSchema,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      await updateAccessGroupAs(deps, principalOf(request), request.params.id, request.body);
      return {};
    },
  );

  app.delete(
    '/accessgroups/:id',
    {
      config: { permissions: MANAGE_SCOPES },
      schema: {
        summary: 'Delete an access group and its CA keys (not the default group; not while hosts or trusted clients belong to it: 409)',
        tags,
        params: AccessGroupParams,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      await deleteAccessGroupAs(deps, principalOf(request), request.params.id);
      return {};
    },
  );

  app.post(
    '/accessgroups/:id/cas',
    {
      config: { permissions: MANAGE_SCOPES },
      // The Python SDK sends no body.
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        summary: 'Add a new CA key to an access group (renewal); answers the new CA’s id as a JSON string. It signs once made primary (PUT primary_ca_id).',
        tags,
        params: AccessGroupParams,
        body: CaRenewalSchema,
        response: { 200: Type.String(), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const body: Static<typeof CaRenewalSchema> = request.body;
      const caId = await renewAccessGroupCaAs(deps, principalOf(request), request.params.id, body.key_type);
      // A JSON string, as PrivX answers it (the Go SDK decodes it into a string).
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(caId));
    },
  );

  app.delete(
    '/accessgroups/:id/cas/:ca_id',
    {
      config: { permissions: MANAGE_SCOPES },
      schema: {
        summary: 'Remove (revoke) one of an access group’s CA keys; not its primary one (409)',
        tags,
        params: AccessGroupCaParams,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      await revokeAccessGroupCaAs(deps, principalOf(request), request.params.id, request.params.ca_id);
      return {};
    },
  );
}
