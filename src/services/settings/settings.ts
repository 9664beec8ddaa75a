import type { FastifyReply } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { notFound } from '../../errors.js';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam } from '../../schemas.js';
import type { Scope } from '../../access.js';
import { findScope, findSection, scopeSchema, type SettingsScope, type SettingsSection } from './registry.js';
import { formatEtag, parseIfMatch, readScope, readSection, versionTag } from './repository.js';
import { changeSettings } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

export const READ: readonly Scope[] = ['settings-view', 'settings-manage'];
export const WRITE: readonly Scope[] = ['settings-manage'];

const CONCURRENCY_NOTE =
  'GET answers an `ETag` (the section version; for a scope, the section versions joined by "."). ' +
  'A PUT with `If-Match` that is no longer current answers 409 CONFLICT and changes nothing; a PUT ' +
  'without it is last-write-wins. Every PUT bumps the version, is audited (settings_changed) and ' +
  'is visible to the next GET on every node.';

const withTag = (reply: FastifyReply, tag: string) => reply.header('etag', formatEtag(tag));

/**
 * `/settings/api/v1/settings/{scope}` and `/settings/{scope}/{section}` of one declared scope. Each
 * gets its own routes, so its TypeBox schema validates the PUT body (wrong type, out-of-bounds,
 * unknown or missing keys map to the PrivX codes) and appears in the OpenAPI document.
 */
export function registerScopeSettingsRoutes(app: TypedApp, scope: SettingsScope): void {
  const { database, clock } = app.context;
  const db = database.db;
  const tags = ['settings'];
  const body = scopeSchema(scope);

  app.get(
    `/settings/${scope.name}`,
    {
      config: { permissions: READ },
      schema: {
        summary: `Get the ${scope.name} settings`,
        description: `${CONCURRENCY_NOTE} Every section is answered complete (defaults for keys never written), so \`merge\` (PrivX: merge defaults in) changes nothing.`,
        tags,
        querystring: Type.Object({ merge: Type.Optional(Type.Boolean()) }),
        response: { 200: body, ...errorResponses(400, 401, 403) },
      },
    },
    async (_request, reply) => {
      const states = await readScope(db, scope);
      withTag(reply, versionTag(states.values()));
      return Object.fromEntries([...states].map(([name, state]) => [name, state.value]));
    },
  );

  app.put(
    `/settings/${scope.name}`,
    {
      config: { permissions: WRITE },
      schema: {
        summary: `Replace the ${scope.name} settings (every section, each complete)`,
        description: CONCURRENCY_NOTE,
        tags,
        body,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const values = request.body;
      const states = await changeSettings(
        db,
        scope,
        scope.sections.map((section) => ({ section, value: values[section.name] })),
        parseIfMatch(request.headers['if-match']),
        { principal: principalOf(request), at: clock.now() },
      );
      withTag(reply, versionTag(states.values()));
      return {};
    },
  );

  for (const section of scope.sections) registerSectionRoutes(app, scope, section);
}

/** 404 naming what was not found: the scope, else the section, else the settings. */
export function unknownSettings(params: { scope: string; section?: string }): never {
  const scope = findScope(params.scope);
  if (!scope) throw notFound(`settings scope "${params.scope}"`, 'scope');
  if (params.section !== undefined && !findSection(scope, params.section)) throw notFound(`settings section "${params.section}"`, 'section');
  throw notFound('settings');
}

/** Parametric `/settings/{scope}[/{section}]` for anything undeclared: 404 (hidden from the OpenAPI document). */
export function registerSettingsFallbackRoutes(app: TypedApp): void {
  const scopeParams = Type.Object({ scope: IdParam });
  const sectionParams = Type.Object({ scope: IdParam, section: IdParam });
  const fallback = { tags: ['settings'], hide: true, response: errorResponses(400, 401, 403, 404) };
  app.get('/settings/:scope', { config: { permissions: READ }, schema: { ...fallback, params: scopeParams } }, async (request) => unknownSettings(request.params));
  app.put('/settings/:scope', { config: { permissions: WRITE }, schema: { ...fallback, params: scopeParams } }, async (request) => unknownSettings(request.params));
  app.get('/settings/:scope/:section', { config: { permissions: READ }, schema: { ...fallback, params: sectionParams } }, async (request) => unknownSettings(request.params));
  app.put('/settings/:scope/:section', { config: { permissions: WRITE }, schema: { ...fallback, params: sectionParams } }, async (request) => unknownSettings(request.params));
}

function registerSectionRoutes(app: TypedApp, scope: SettingsScope, section: SettingsSection): void {
  const { database, clock } = app.context;
  const db = database.db;
  const url = `/settings/${scope.name}/${section.name}`;
  const tags = ['settings'];

  app.get(
    url,
    {
      config: { permissions: READ },
      schema: { summary: `Get ${scope.name} ${section.name}`, description: `${section.description}. ${CONCURRENCY_NOTE}`, tags, response: { 200: section.schema, ...errorResponses(401, 403) } },
    },
    async (_request, reply) => {
      const state = await readSection(db, scope, section);
      withTag(reply, versionTag([state]));
      // Stored values are validated against section.schema when written (and serialised by it here).
      return state.value as Static<typeof section.schema>;
    },
  );

  app.put(
    url,
    {
      config: { permissions: WRITE },
      schema: {
        summary: `Replace ${scope.name} ${section.name} (the complete object)`,
        description: `${section.description}. ${CONCURRENCY_NOTE}`,
        tags,
        body: section.schema,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const states = await changeSettings(db, scope, [{ section, value: request.body }], parseIfMatch(request.headers['if-match']), {
        principal: principalOf(request),
        at: clock.now(),
      });
      withTag(reply, versionTag(states.values()));
      return {};
    },
  );
}
