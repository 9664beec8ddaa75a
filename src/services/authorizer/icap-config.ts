import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { invalid, notFound } from '../../errors.js';
import { timestamp } from '../../lib/time.js';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam } from '../../schemas.js';
import type { Principal } from '../auth/principal.js';
import { trustedClientHolding } from '../local-user-store/use-cases.js';
import { findTrustedClient, type TrustedClient } from '../local-user-store/trusted-client-repository.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { assertMayManage } from '../role-store/grant-rule.js';
import type { Scope } from '../role-store/permissions.js';
import { consumeConfSession, createConfSession, issueRegistrationSecret } from './repository.js';
import { ensureWebProxyCa } from './web-proxy-ca.js';
import { renderWebProxyConfig, webProxyConfig } from './web-proxy-config.js';

/** How long the registration secret of a downloaded config stays usable. */
export const REGISTRATION_SECRET_TTL_SECONDS = 24 * 3600;

const CONF_SCOPES: readonly Scope[] = ['admin', 'api-clients-manage'];

const ConfParams = Type.Object({ trusted_client_id: IdParam });
const ConfSessionParams = Type.Object({ trusted_client_id: IdParam, session_id: IdParam });
const SessionCreated = Type.Object({ session_id: Type.String() });
const TomlBody = Type.String({ description: 'The web-proxy config file (TOML, see WebProxyConfigFile)' });

/**
 * `/icap/conf/:trusted_client_id`: single-use sessions to download a web proxy's config, and the
 * download (also under `/carrier/conf`, the path the PrivX Python SDK uses).
 */
export function registerIcapConfigRoutes(app: FastifyInstance): void {
  const { database, clock, secretKey, config } = app.context;
  const db = database.db;

  /**
   * The trusted client of a conf route: 404 when unknown, 400 when it is not a web proxy. A config
   * download hands out the client's credentials (a fresh registration secret), so the grant rule
   * applies: the actor must hold everything the client holds (403 naming what it lacks).
   */
  async function icapClient(id: string, actor: Principal): Promise<TrustedClient> {
    const client = await findTrustedClient(db, id);
    if (!client) throw notFound('trusted client');
    if (client.type !== 'ICAP') throw invalid('INVALID_REQUEST_DATA', 'the trusted client is not a web proxy (type ICAP)', 'trusted_client_id');
    assertMayManage(actor, `issuing the credentials of trusted client ${client.id}`, trustedClientHolding(client));
    return client;
  }

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
      const client = await icapClient((request.params as { trusted_client_id: string }).trusted_client_id, principalOf(request));
      const now = clock.now();
      const sessionId = await createConfSession(db, secretKey, client.id, now, config.icapConfSessionTtlSeconds);
      await recordAuditEvent(db, {
        type: 'web_proxy_config_session_created',
        outcome: 'success',
        principal: principalOf(request),
        sourceAddress: request.ip,
        objectType: 'trusted-client',
        objectId: client.id,
        details: { name: client.name },
        at: now,
      });
      return reply.code(201).send({ session_id: sessionId });
    },
  );

  const downloadSchema = (summary: string) => ({
    summary,
    tags: ['icap'],
    params: ConfSessionParams,
    response: { 200: TomlBody, ...errorResponses(400, 401, 403, 404) },
  });

  async function download(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const params = request.params as { trusted_client_id: string; session_id: string };
    const principal = principalOf(request);
    const client = await icapClient(params.trusted_client_id, principal);
    const now = clock.now();
    // Make sure the CA exists before the transaction (it may have to be created).
    const ca = await ensureWebProxyCa(db, now);
    const secret = await db.transaction().execute(async (trx) => {
      if (!(await consumeConfSession(trx, secretKey, client.id, params.session_id, now))) return undefined;
      const issued = await issueRegistrationSecret(trx, secretKey, client.id, now, REGISTRATION_SECRET_TTL_SECONDS);
      await recordAuditEvent(trx, {
        type: 'web_proxy_config_downloaded',
        outcome: 'success',
        principal,
        sourceAddress: request.ip,
        objectType: 'trusted-client',
        objectId: client.id,
        details: { name: client.name },
        at: now,
      });
      return issued;
    });
    if (secret === undefined) {
      await recordAuditEvent(db, {
        type: 'web_proxy_config_downloaded',
        outcome: 'failure',
        principal,
        sourceAddress: request.ip,
        objectType: 'trusted-client',
        objectId: client.id,
        details: { reason: 'unknown, expired or used config session' },
        at: now,
      });
      throw notFound('config session');
    }
    const document = webProxyConfig({
      publicUrl: config.publicUrl,
      controlPlaneCaPem: app.context.tlsCaPem,
      trustedClientId: client.id,
      registrationSecret: secret,
      registrationSecretExpires: timestamp(new Date(now.getTime() + REGISTRATION_SECRET_TTL_SECONDS * 1000)),
      webProxyCa: { id: ca.id, certificatePem: ca.certificate_pem },
      webProxyAddress: client.web_proxy_address,
      webProxyPort: client.web_proxy_port,
    });
    return reply
      .type('application/toml; charset=utf-8')
      .header('content-disposition', `attachment; filename=web-proxy-${client.id}-config.toml`)
      .send(renderWebProxyConfig(document));
  }

  app.get(
    '/icap/conf/:trusted_client_id/:session_id',
    { config: { permissions: CONF_SCOPES }, schema: downloadSchema('Download a web proxy’s config (TOML) once; it carries a fresh one-time registration secret') },
    download,
  );
  app.get(
    '/carrier/conf/:trusted_client_id/:session_id',
    { config: { permissions: CONF_SCOPES }, schema: downloadSchema('The same config download under the path the PrivX Python SDK uses') },
    download,
  );
}
