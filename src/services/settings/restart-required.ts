import { Type } from '@sinclair/typebox';
import { errorResponses, IdParam } from '../../schemas.js';
import type { SettingsScope } from './registry.js';
import { READ, unknownSettings } from './settings.js';
import { checkRestartRequired } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

const RestartRequiredAnswer = Type.Object({
  restart_required: Type.Boolean(),
  sections: Type.Record(Type.String(), Type.Boolean(), { description: 'Per section in the request: whether applying it needs a restart' }),
});

/**
 * `POST /settings/api/v1/restart_required/{scope}`: whether applying the given sections (each
 * complete, validated as a PUT would be; any subset of the scope) needs the nodes restarted.
 * privgate reads every setting it acts on live, so the answer is false today; the check stays so
 * PrivX clients that ask before a change keep working.
 */
export function registerRestartRequiredRoute(app: TypedApp, scope: SettingsScope): void {
  const db = app.context.database.db;
  const body = Type.Object(Object.fromEntries(scope.sections.map((section) => [section.name, Type.Optional(section.schema)])), { additionalProperties: false });
  app.post(
    `/restart_required/${scope.name}`,
    {
      config: { permissions: READ },
      schema: {
        summary: `Whether applying ${scope.name} settings needs a restart`,
        tags: ['settings'],
        body,
        response: { 200: RestartRequiredAnswer, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => checkRestartRequired(db, scope, request.body),
  );
}

/** Parametric `/restart_required/{scope}` for an undeclared scope: 404 (hidden from the OpenAPI document). */
export function registerRestartRequiredFallbackRoute(app: TypedApp): void {
  app.post(
    '/restart_required/:scope',
    { config: { permissions: READ }, schema: { tags: ['settings'], hide: true, params: Type.Object({ scope: IdParam }), response: errorResponses(400, 401, 403, 404) } },
    async (request) => unknownSettings(request.params),
  );
}
