import { principalOf } from '../../plugins/authenticate.js';
import { CONF_SCOPES, downloadSchema, sendConfig, sessionSchema } from './config-download.js';
import { downloadConfig, openConfigSession } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/** `/extender/conf/:trusted_client_id`: single-use sessions to download an extender's config, and the download. */
export function registerExtenderConfigRoutes(app: TypedApp): void {
  const { context } = app;

  app.post(
    '/extender/conf/:trusted_client_id',
    { config: { permissions: CONF_SCOPES }, schema: sessionSchema('Open a single-use, short-lived session to download an extender’s config (type EXTENDER)', 'extender') },
    async (request, reply) => {
      const sessionId = await openConfigSession(context, principalOf(request), 'extender', request.params.trusted_client_id, request.ip);
      return reply.code(201).send({ session_id: sessionId });
    },
  );

  app.get(
    '/extender/conf/:trusted_client_id/:session_id',
    { config: { permissions: CONF_SCOPES }, schema: downloadSchema('Download an extender’s config (TOML) once; it carries a fresh one-time registration secret', 'extender') },
    async (request, reply) =>
      sendConfig(reply, await downloadConfig(context, principalOf(request), 'extender', request.params.trusted_client_id, request.params.session_id, request.ip)),
  );
}
