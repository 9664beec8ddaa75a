import { Type, type Static } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, IdResponse, ListResponse } from '../../schemas.js';
import { effectiveServiceOptions, getHost } from './repository.js';
import { listHosts, type HostPage } from './search-repository.js';
import { EffectiveServiceOptionsSchema, HostInSchema, HostOutSchema, HostPagingQuery, HostSearchSchema } from './schemas.js';
import { createHostAs, deleteHostAs, updateHostAs, type HostStoreDeps } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

const Params = Type.Object({ id: IdParam });
const tags = ['hosts'];

function pageOf(query: Static<typeof HostPagingQuery>): HostPage {
  return { offset: query.offset ?? 0, limit: query.limit ?? 50, sortkey: query.sortkey ?? 'name', descending: query.sortdir?.toLowerCase() === 'desc' };
}

/** `/host-store/api/v1/hosts`: target hosts with their services, principals and tags. */
export function registerHostRoutes(app: TypedApp): void {
  const { database, clock } = app.context;
  const db = database.db;
  const deps: HostStoreDeps = { db, clock };

  app.get(
    '/hosts',
    {
      config: { permissions: ['hosts-view', 'hosts-manage'] },
      schema: {
        summary: 'List hosts',
        description: 'Sorted by `sortkey` (name, common_name, created or updated; default name) and `sortdir`; `limit` defaults to 50, at most 1000.',
        tags,
        querystring: HostPagingQuery,
        response: { 200: ListResponse(HostOutSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listHosts(db, {}, pageOf(request.query)),
  );

  app.post(
    '/hosts/search',
    {
      config: { permissions: ['hosts-view', 'hosts-manage'] },
      // No body (or an empty one with a JSON content type) searches with no filter.
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        summary: 'Search hosts',
        description:
          '`keywords`: whitespace- or comma-separated terms, each a case-insensitive substring of the name, common_name, an address or external_id; ' +
          'a host matches every term. `service`: hosts with that service (a list: any of them). `tags`: hosts with every tag. Paging as for the list.',
        tags,
        querystring: HostPagingQuery,
        body: HostSearchSchema,
        response: { 200: ListResponse(HostOutSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const body = request.body;
      const services = body.service === undefined || body.service === null ? [] : Array.isArray(body.service) ? body.service : [body.service];
      return listHosts(db, { keywords: body.keywords, services, tags: body.tags ?? [] }, pageOf(request.query));
    },
  );

  app.post(
    '/hosts',
    {
      config: { permissions: ['hosts-manage'] },
      schema: { summary: 'Create a host', tags, body: HostInSchema, response: { 201: IdResponse, ...errorResponses(400, 401, 403) } },
    },
    async (request, reply) => {
      const id = await createHostAs(deps, principalOf(request), request.body);
      return reply.code(201).send({ id });
    },
  );

  app.get(
    '/hosts/:id',
    {
      config: { permissions: ['hosts-view', 'hosts-manage'] },
      schema: { summary: 'Get a host', tags, params: Params, response: { 200: HostOutSchema, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => getHost(db, request.params.id),
  );

  app.put(
    '/hosts/:id',
    {
      config: { permissions: ['hosts-manage'] },
      schema: { summary: 'Replace a host', tags, params: Params, body: HostInSchema, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      const { id } = request.params;
      await updateHostAs(deps, principalOf(request), id, request.body);
      return {};
    },
  );

  app.delete(
    '/hosts/:id',
    {
      config: { permissions: ['hosts-manage'] },
      schema: { summary: 'Delete a host', tags, params: Params, response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      await deleteHostAs(deps, principalOf(request), request.params.id);
      return {};
    },
  );

  app.get(
    '/hosts/:id/effective_service_options',
    {
      config: { permissions: ['hosts-view', 'hosts-manage', 'service'] },
      schema: {
        summary: 'Effective service options of a host account (privgate extension)',
        description:
          'privgate extension, not in PrivX. Resolves the service options in force for `principal` on the host: per protocol block ' +
          '(ssh, rdp, web, vnc, db), the principal\'s `service_options` block when it has one, else the installation default ' +
          '(`GET /host-store/api/v1/settings/default_service_options`). `sources` tells which applied per block. ' +
          '404 OBJECT_NOT_FOUND for an unknown host, or (property `principal`) a principal the host does not have.',
        tags,
        params: Params,
        querystring: Type.Object({ principal: Type.String({ minLength: 1, maxLength: 200 }) }),
        response: { 200: EffectiveServiceOptionsSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { principal } = request.query;
      const effective = await effectiveServiceOptions(db, id, principal);
      return { host_id: id, principal, options: effective.options, sources: effective.sources };
    },
  );
}
