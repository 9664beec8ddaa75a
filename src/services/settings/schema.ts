import { Type } from '@sinclair/typebox';
import { errorResponses, IdParam } from '../../schemas.js';
import { scopeJsonSchema, type SettingsScope } from './registry.js';
import { READ, unknownSettings } from './settings.js';
import type { TypedApp } from '../typed-app.js';

/** `/settings/api/v1/schema/{scope}`: the JSON Schema of one declared scope. */
export function registerScopeSchemaRoutes(app: TypedApp, scope: SettingsScope): void {
  app.get(
    `/schema/${scope.name}`,
    {
      config: { permissions: READ },
      schema: {
        summary: `JSON Schema of the ${scope.name} settings`,
        tags: ['settings'],
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses(401, 403) },
      },
    },
    async () => scopeJsonSchema(scope),
  );
}

/** Parametric `/schema/{scope}` for an undeclared scope: 404 (hidden from the OpenAPI document). */
export function registerSchemaFallbackRoutes(app: TypedApp): void {
  const fallback = { tags: ['settings'], hide: true, response: errorResponses(400, 401, 403, 404) };
  app.get('/schema/:scope', { config: { permissions: READ }, schema: { ...fallback, params: Type.Object({ scope: IdParam }) } }, async (request) => unknownSettings(request.params));
}
