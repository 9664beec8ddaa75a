import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam } from '../../schemas.js';
import type { Scope } from '../../access.js';
import { downloadWebProxyConfig, openWebProxyConfigSession } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

const CONF_SCOPES: readonly Scope[] = ['admin', 'api-clients-manage'];

const ConfParams = Type.Object({ trusted_client_id: IdParam });
const ConfSessionParams = Type.Object({ trusted_client_id: IdParam, session_id: IdParam });
const SessionCreated = Type.Object({ session_id: Type.String() });
const TomlBody = Type.String({ description: 'The web-proxy config file (TOML, see WebProxyConfigFile)' });

/**
 * `/icap/conf/:trusted_client_id`: single-use sessions to download a web proxy's config, and the
 * download (also under `/carrier/conf`, the path the PrivX Python SDK uses).
 */
export function registerIcapConfigRoutes(app: TypedApp): void {
  const { context } = app;

  app.post(
    '/icap/conf/:trusted_client_id',
    {
      config: { permissions: CONF_SCOPES },
      schema: {
        summary: 'Open a single-use, short-lived session to download a web proxy’s config',
        tags: ['icap'],
        params: ConfParams,
        response: { 201: SessionCreated, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const sessionId = await openWebProxyConfigSession(context, principalOf(request), request.params.trusted_client_id, request.ip);
      return reply.code(201).send({ session_id: sessionId });
    },
  );

  const downloadSchema = (summary: string) => ({
    summary,
    tags: ['icap'],
    params: ConfSessionParams,
    response: { 200: TomlBody, ...errorResponses(400, 401, 403, 404) },
  });

  async function download(request: FastifyRequest, params: Static<typeof ConfSessionParams>, reply: FastifyReply): Promise<FastifyReply> {
    const config = await downloadWebProxyConfig(context, principalOf(request), params.trusted_client_id, params.session_id, request.ip);
    return reply
      .type('application/toml; charset=utf-8')
      .header('content-disposition', `attachment; filename=web-proxy-${config.trustedClientId}-config.toml`)
      .send(config.toml);
  }

  app.get(
    '/icap/conf/:trusted_client_id/:session_id',
    { config: { permissions: CONF_SCOPES }, schema: downloadSchema('Download a web proxy’s config (TOML) once; it carries a fresh one-time registration secret') },
    async (request, reply) => download(request, request.params, reply),
  );
  app.get(
    '/carrier/conf/:trusted_client_id/:session_id',
    { config: { permissions: CONF_SCOPES }, schema: downloadSchema('The same config download under the path the PrivX Python SDK uses') },
    async (request, reply) => download(request, request.params, reply),
  );
}
