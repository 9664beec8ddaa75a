import { principalOf } from '../../plugins/authenticate.js';
import { CONF_SCOPES, downloadSchema, sendConfig, sessionSchema } from './config-download.js';
import { downloadConfig, openConfigSession } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/**
 * `/icap/conf/:trusted_client_id`: single-use sessions to download a web proxy's config, and the
 * download (also served under `/carrier/conf`, the path the PrivX Python SDK uses; see carrier-config.ts).
 */
export function registerIcapConfigRoutes(app: TypedApp): void {
  const { context } = app;

  app.post(
    '/icap/conf/:trusted_client_id',
    { config: { permissions: CONF_SCOPES }, schema: sessionSchema('Open a single-use, short-lived session to download a web proxy’s config', 'icap') },
    async (request, reply) => {
      const sessionId = await openConfigSession(context, principalOf(request), 'icap', request.params.trusted_client_id, request.ip);
      return reply.code(201).send({ session_id: sessionId });
    },
  );

  app.get(
    '/icap/conf/:trusted_client_id/:session_id',
    { config: { permissions: CONF_SCOPES }, schema: downloadSchema('Download a web proxy’s config (TOML) once; it carries a fresh one-time registration secret', 'icap') },
    async (request, reply) =>
      sendConfig(reply, await downloadConfig(context, principalOf(request), 'icap', request.params.trusted_client_id, request.params.session_id, request.ip)),
  );
}
