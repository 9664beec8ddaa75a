import { Type } from '@sinclair/typebox';
import { errorResponses, IdParam } from '../../schemas.js';
import { scopeJsonSchema, sectionJsonSchema, type SettingsScope } from './registry.js';
import { READ, unknownSettings } from './settings.js';
import type { TypedApp } from '../typed-app.js';

const SCHEMA_NOTE =
  'Each section and key carries `x-privgate-acted-on` (false: stored and returned, not acted on; ' +
  'an open section keeps other PrivX keys that way) and each section `restart_required`; a key whose ' +
  'environment variable is set on this node names it in `x-privgate-overridden-by` (docs/settings.md).';

/** `/settings/api/v1/schema/{scope}` and `/schema/{scope}/{section}`: the JSON Schema of one declared scope and of each of its sections. */
export function registerScopeSchemaRoutes(app: TypedApp, scope: SettingsScope): void {
  const overrides = app.context.config.settingsOverrides;
  for (const section of scope.sections) {
    app.get(
      `/schema/${scope.name}/${section.name}`,
      {
        config: { permissions: READ },
        schema: {
          summary: `JSON Schema of ${scope.name} ${section.name}`,
          description: SCHEMA_NOTE,
          tags: ['settings'],
          response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses(401, 403) },
        },
      },
      async () => sectionJsonSchema(section, overrides),
    );
  }
  app.get(
    `/schema/${scope.name}`,
    {
      config: { permissions: READ },
      schema: {
        summary: `JSON Schema of the ${scope.name} settings`,
        description: SCHEMA_NOTE,
        tags: ['settings'],
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses(401, 403) },
      },
    },
    async () => scopeJsonSchema(scope, overrides),
  );
}

/** Parametric `/schema/{scope}[/{section}]` for anything undeclared: 404 (hidden from the OpenAPI document). */
export function registerSchemaFallbackRoutes(app: TypedApp): void {
  const fallback = { tags: ['settings'], hide: true, response: errorResponses(400, 401, 403, 404) };
  app.get('/schema/:scope', { config: { permissions: READ }, schema: { ...fallback, params: Type.Object({ scope: IdParam }) } }, async (request) => unknownSettings(request.params));
  app.get(
    '/schema/:scope/:section',
    { config: { permissions: READ }, schema: { ...fallback, params: Type.Object({ scope: IdParam, section: IdParam }) } },
    async (request) => unknownSettings(request.params),
  );
}
