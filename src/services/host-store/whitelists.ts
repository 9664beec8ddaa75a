import { Type } from '@sinclair/typebox';
import type { Scope } from '../../access.js';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdResponse, ListResponse } from '../../schemas.js';
import {
  WhitelistEvaluateResponseSchema,
  WhitelistEvaluateSchema,
  WhitelistInSchema,
  WhitelistOutSchema,
  WhitelistPagingQuery,
  WhitelistParams,
  WhitelistSearchSchema,
} from './whitelist-schemas.js';
import {
  createWhitelistAs,
  deleteWhitelistAs,
  evaluateWhitelist,
  getWhitelistObject,
  listWhitelistsPage,
  updateWhitelistAs,
  type WhitelistDeps,
} from './whitelist-use-cases.js';
import type { TypedApp } from '../typed-app.js';

const READ_SCOPES: readonly Scope[] = ['hosts-view', 'hosts-manage'];
const MANAGE_SCOPES: readonly Scope[] = ['hosts-manage'];
const tags = ['whitelists'];
const PATTERNS =
  'Patterns by `type`: `glob` (default; `*`, `?`, `[...]`, `\\` escapes) or `regex` (RE2 syntax without backreferences, lookarounds or flags); ' +
  'either must match the whole command, whose whitespace is trimmed and collapsed first (docs/whitelists.md). A pattern that does not compile is 400.';

/** `/host-store/api/v1/whitelists`: command whitelists (CRUD, search) and evaluating commands against patterns. */
export function registerWhitelistRoutes(app: TypedApp): void {
  const { database, clock } = app.context;
  const deps: WhitelistDeps = { db: database.db, clock };

  app.get(
    '/whitelists',
    {
      config: { permissions: READ_SCOPES },
      schema: {
        summary: 'List command whitelists',
        description: 'Sorted by `sortkey` (id, name, type, created or updated; default name) and `sortdir`; `limit` defaults to 50, at most 1000.',
        tags,
        querystring: WhitelistPagingQuery,
        response: { 200: ListResponse(WhitelistOutSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listWhitelistsPage(deps, request.query),
  );

  app.post(
    '/whitelists',
    {
      config: { permissions: MANAGE_SCOPES },
      schema: { summary: 'Create a command whitelist', description: PATTERNS, tags, body: WhitelistInSchema, response: { 201: IdResponse, ...errorResponses(400, 401, 403, 409) } },
    },
    async (request, reply) => {
      const id = await createWhitelistAs(deps, principalOf(request), request.body);
      return reply.code(201).send({ id });
    },
  );

  app.post(
    '/whitelists/search',
    {
      config: { permissions: READ_SCOPES },
      // No body (or an empty one with a JSON content type) searches with no filter.
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
      schema: {
        summary: 'Search command whitelists',
        description:
          '`keywords`: comma-separated alternatives (a whitelist matches any), each of whitespace-separated terms that must all be case-insensitive substrings of the name or comment. Paging as for the list.',
        tags,
        querystring: WhitelistPagingQuery,
        body: WhitelistSearchSchema,
        response: { 200: ListResponse(WhitelistOutSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => listWhitelistsPage(deps, request.query, request.body.keywords),
  );

  app.post(
    '/whitelists/evaluate',
    {
      config: { permissions: READ_SCOPES },
      schema: {
        summary: 'Evaluate commands against whitelist patterns',
        description:
          `${PATTERNS} The request's whitelist patterns are evaluated (when it sends none but an \`id\`, the stored whitelist's). ` +
          '`whitelist_pattern_results[].status` holds one MATCH or NO_MATCH per command, in order; `command_results[].allowed` is whether any pattern matches. ' +
          '`rshell_variant` is accepted and ignored: each command is matched as one statement.',
        tags,
        body: WhitelistEvaluateSchema,
        response: { 200: WhitelistEvaluateResponseSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => evaluateWhitelist(deps, request.body),
  );

  app.get(
    '/whitelists/:id',
    {
      config: { permissions: READ_SCOPES },
      schema: { summary: 'Get a command whitelist', tags, params: WhitelistParams, response: { 200: WhitelistOutSchema, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => getWhitelistObject(deps, request.params.id),
  );

  app.put(
    '/whitelists/:id',
    {
      config: { permissions: MANAGE_SCOPES },
      schema: {
        summary: 'Update a command whitelist (a PUT of what GET answered is accepted)',
        description: PATTERNS,
        tags,
        params: WhitelistParams,
        body: WhitelistInSchema,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      await updateWhitelistAs(deps, principalOf(request), request.params.id, request.body);
      return {};
    },
  );

  app.delete(
    '/whitelists/:id',
    {
      config: { permissions: MANAGE_SCOPES },
      schema: {
        summary: 'Delete a command whitelist (409 while a host principal’s command restrictions name it)',
        tags,
        params: WhitelistParams,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      await deleteWhitelistAs(deps, principalOf(request), request.params.id);
      return {};
    },
  );
}
