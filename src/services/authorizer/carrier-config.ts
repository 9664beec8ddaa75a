import { principalOf } from '../../plugins/authenticate.js';
import { CONF_SCOPES, downloadSchema, sendConfig, sessionSchema } from './config-download.js';
import { downloadConfig, openConfigSession } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/** `/carrier/conf/:trusted_client_id`: single-use sessions to download a carrier's config, and the download. */
export function registerCarrierConfigRoutes(app: TypedApp): void {
  const { context } = app;

  app.post(
    '/carrier/conf/:trusted_client_id',
    { config: { permissions: CONF_SCOPES }, schema: sessionSchema('Open a single-use, short-lived session to download a carrier’s config (type CARRIER)', 'carrier') },
    async (request, reply) => {
      const sessionId = await openConfigSession(context, principalOf(request), 'carrier', request.params.trusted_client_id, request.ip);
      return reply.code(201).send({ session_id: sessionId });
    },
  );

  app.get(
    '/carrier/conf/:trusted_client_id/:session_id',
    {
      config: { permissions: CONF_SCOPES },
      schema: downloadSchema(
        'Download a carrier’s config (TOML) once, with a fresh one-time registration secret; for a web proxy (ICAP) the web-proxy config (the PrivX Python SDK downloads it here)',
        'carrier',
      ),
    },
    async (request, reply) =>
      sendConfig(reply, await downloadConfig(context, principalOf(request), 'carrier', request.params.trusted_client_id, request.params.session_id, request.ip)),
  );
}
