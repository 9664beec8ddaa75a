import { Type, type Static } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam, IdResponse, ListResponse } from '../../schemas.js';
import { explainAccess } from './access-resolver.js';
import { effectiveServiceOptions, getHost, listHostTags, listSessionHostCertificates, resolveHost } from './repository.js';
import { listHosts, toHostFilter, type HostPage } from './search-repository.js';
import {
  EffectiveServiceOptionsSchema,
  HostAccessQuery,
  HostAccessResponse,
  HostDeployableSchema,
  HostDeployResponse,
  HostDisabledSchema,
  HostInSchema,
  HostOutSchema,
  HostPagingQuery,
  HostResolveSchema,
  HostSearchSchema,
  HostTagsQuery,
  SessionHostCertificateSchema,
} from './schemas.js';
import {
  createHostAs,
  deleteHostAs,
  deleteSessionHostCertificateAs,
  deleteSessionHostCertificatesAs,
  deployHostAs,
  setHostDeployableAs,
  setHostDisabledAs,
  updateHostAs,
  type HostStoreDeps,
} from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

const Params = Type.Object({ id: IdParam });
const CertificateParams = Type.Object({ id: IdParam, certificate_id: IdParam });
const tags = ['hosts'];

function pageOf(query: Static<typeof HostPagingQuery>): HostPage {
  return { offset: query.offset ?? 0, limit: query.limit ?? 50, sortkey: query.sortkey ?? 'name', descending: query.sortdir?.toLowerCase() === 'desc' };
}

/** `/host-store/api/v1/hosts`: target hosts with their services, principals and tags. */
export function registerHostRoutes(app: TypedApp): void {
  const { database, clock, installationKey } = app.context;
  const db = database.db;
  const deps: HostStoreDeps = { db, clock, installationKey };

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
          'The body is the PrivX SDK\'s HostSearch; filters combine with AND, and an empty value is no filter. ' +
          '`keywords`: whitespace- or comma-separated terms, each a case-insensitive substring of the name, common_name, an address or external_id; ' +
          'a host matches every term. `tags`: hosts with every tag. `service`, `common_name`, `address` (case-insensitive), `distinguished_name`, ' +
          '`organization`, `organizational_unit`, `zone`, `host_type`, `host_classification`, `role` (role ids of its principals), `scope`, ' +
          '`access_group_ids`, `cloud_providers`, `cloud_provider_regions`, `statuses`, `port` (of a service) and `principal` (an account name; privgate extension): ' +
          'hosts with any of the values. `id`, `external_id`, `instance_id`, `source_id`, `disabled`: that exact value. `deployable: true`: deployable hosts. ' +
          '`ignore_disabled_sources` changes nothing (privgate has no host sources); `filter` must be empty. Every filter is an index range. Paging as for the list.',
        tags,
        querystring: HostPagingQuery,
        body: HostSearchSchema,
        response: { 200: ListResponse(HostOutSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listHosts(db, toHostFilter(request.body), pageOf(request.query)),
  );

  // Static paths before `/hosts/:id` in the file; the router prefers them over the parameter anyway.
  app.get(
    '/hosts/tags',
    {
      config: { permissions: ['hosts-view', 'hosts-manage'] },
      schema: {
        summary: 'List host tags',
        description: 'Every tag some host has, once, sorted (`sortdir`); `query` keeps the tags containing it (case-insensitive). `limit` defaults to 50, at most 1000.',
        tags,
        querystring: HostTagsQuery,
        response: { 200: ListResponse(Type.String()), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { offset, limit, query, sortdir } = request.query;
      return listHostTags(db, { offset: offset ?? 0, limit: limit ?? 50, query, descending: sortdir?.toLowerCase() === 'desc' });
    },
  );

  app.post(
    '/hosts/resolve',
    {
      config: { permissions: ['hosts-view', 'hosts-manage', 'service'] },
      schema: {
        summary: 'Resolve a service address to a host',
        description:
          'The host with a `service` at `address` (case-insensitive) and `port` (0 or left out: any), else the host with `address` among its addresses that offers the service; ' +
          'the first by id when several do. 404 OBJECT_NOT_FOUND when none does.',
        tags,
        body: HostResolveSchema,
        response: { 200: HostOutSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => resolveHost(db, request.body.service, request.body.address, request.body.port ?? 0),
  );

  app.post(
    '/hosts/deploy',
    {
      config: { permissions: ['hosts-manage'] },
      schema: {
        summary: 'Register a deployable host',
        description:
          'A host registering itself. The host its `external_id`, `instance_id` or `common_name` names (in that order) is updated with the fields sent, when it is deployable ' +
          '(else 409 CONFLICT); with none, a new deployable host is created. Answers its id and `action` ("created" or "updated").',
        tags,
        body: HostInSchema,
        response: { 200: HostDeployResponse, ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request) => deployHostAs(deps, principalOf(request), request.body),
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

  app.put(
    '/hosts/:id/deployable',
    {
      config: { permissions: ['hosts-manage'] },
      schema: {
        summary: 'Set whether a host is deployable',
        description: 'A deployable host may be updated by `POST /hosts/deploy`.',
        tags,
        params: Params,
        body: HostDeployableSchema,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await setHostDeployableAs(deps, principalOf(request), request.params.id, request.body.deployable);
      return {};
    },
  );

  app.put(
    '/hosts/:id/disabled',
    {
      config: { permissions: ['hosts-manage'] },
      schema: {
        summary: 'Disable or enable a host',
        description: '`disabled: true` sets the host\'s `disabled` to "TRUE", false to "FALSE".',
        tags,
        params: Params,
        body: HostDisabledSchema,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await setHostDisabledAs(deps, principalOf(request), request.params.id, request.body.disabled);
      return {};
    },
  );

  app.get(
    '/hosts/:id/session_host_certificates',
    {
      config: { permissions: ['hosts-view', 'hosts-manage'] },
      schema: {
        summary: 'List a host\'s session host certificates',
        description: 'privgate issues no session host certificates yet: an empty list (404 for an unknown host).',
        tags,
        params: Params,
        querystring: HostPagingQuery,
        response: { 200: ListResponse(SessionHostCertificateSchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => listSessionHostCertificates(db, request.params.id),
  );

  app.delete(
    '/hosts/:id/session_host_certificates',
    {
      config: { permissions: ['hosts-manage'] },
      schema: {
        summary: 'Delete a host\'s session host certificates',
        description: 'privgate issues none yet: nothing to delete (404 for an unknown host).',
        tags,
        params: Params,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await deleteSessionHostCertificatesAs(deps, principalOf(request), request.params.id);
      return {};
    },
  );

  app.delete(
    '/hosts/:id/session_host_certificates/:certificate_id',
    {
      config: { permissions: ['hosts-manage'] },
      schema: {
        summary: 'Delete a session host certificate',
        description: 'privgate issues none yet: always 404 OBJECT_NOT_FOUND.',
        tags,
        params: CertificateParams,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => deleteSessionHostCertificateAs(deps, principalOf(request), request.params.id, request.params.certificate_id),
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

  app.get(
    '/hosts/:id/access',
    {
      config: { permissions: ['hosts-view', 'hosts-manage'] },
      schema: {
        summary: 'Explain whether a user may connect to a host (privgate extension)',
        description:
          'privgate extension, not in PrivX (see docs/hosts.md). The access resolver\'s decision for `user` (a local user\'s id or username) connecting over ' +
          '`service` as `principal` (left out: each principal of the host), at `at` (default now) from `address` (left out: unknown). ' +
          'Allowed when the host is enabled, the user is enabled, the host offers the service, the principal is on the host, and the user holds a role ' +
          'the principal lists whose contextual limit allows the time and address; privx-admin is not implicitly allowed. Each decision names its `reason`, ' +
          'the roles it goes through, and when allowed the effective service options and the command restrictions with their whitelists\' patterns. ' +
          '404 OBJECT_NOT_FOUND for an unknown host, or (property `user`) user.',
        tags,
        params: Params,
        querystring: HostAccessQuery,
        response: { 200: HostAccessResponse, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => explainAccess(db, request.params.id, request.query, clock.now()),
  );
}
