import net from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { forbidden, invalid, notFound, type PrivxError } from '../../errors.js';
import { describeCertificate, InvalidCsrError, isValidDnsName, signCertificateSigningRequest } from '../../lib/pki.js';
import { keyedHash, safeEqual } from '../../lib/secrets.js';
import { timestamp } from '../../lib/time.js';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam } from '../../schemas.js';
import type { Principal } from '../auth/principal.js';
import { LoginThrottle } from '../auth/throttle.js';
import { trustedClientHolding } from '../local-user-store/use-cases.js';
import { findTrustedClient, addressInSubnets, type TrustedClient } from '../local-user-store/trusted-client-repository.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { assertMayManage } from '../role-store/grant-rule.js';
import type { Scope } from '../role-store/permissions.js';
import {
  completeRegistration,
  consumeConfSession,
  createConfSession,
  findCa,
  issueRegistrationSecret,
  listCas,
  recordCertificate,
  registrationState,
  revokeWebProxyCertificates,
} from './repository.js';
import { caMaterial, caObject, crlFor, ensureWebProxyCa } from './web-proxy-ca.js';
import { renderWebProxyConfig, webProxyConfig } from './web-proxy-config.js';

/** How long the registration secret of a downloaded config stays usable. */
export const REGISTRATION_SECRET_TTL_SECONDS = 24 * 3600;
/** Validity of a web proxy's certificate; it re-registers (new config) to renew. */
const WEB_PROXY_CERTIFICATE_DAYS = 365;

const CA_READ_SCOPES: readonly Scope[] = ['admin', 'certificates-view', 'api-clients-manage', 'service'];
const CONF_SCOPES: readonly Scope[] = ['admin', 'api-clients-manage'];

const CaOut = Type.Object({
  id: Type.String(),
  group_id: Type.String(),
  type: Type.String(),
  size: Type.Integer(),
  public_key: Type.String(),
  public_key_string: Type.String(),
  x509_certificate: Type.String(),
  subject: Type.String(),
  issuer: Type.String(),
  serial: Type.String(),
  not_before: Type.String(),
  not_after: Type.String(),
  fingerprints: Type.Object({ sha1: Type.String(), sha256: Type.String() }),
});
const CaParams = Type.Object({ id: IdParam });
const CrlQuery = Type.Object({ format: Type.Optional(Type.Union([Type.Literal('der'), Type.Literal('pem')])) });
const ConfParams = Type.Object({ trusted_client_id: IdParam });
const ConfSessionParams = Type.Object({ trusted_client_id: IdParam, session_id: IdParam });
const SessionCreated = Type.Object({ session_id: Type.String() });
const TomlBody = Type.String({ description: 'The web-proxy config file (TOML, see WebProxyConfigFile)' });

const RegisterIn = Type.Object(
  {
    trusted_client_id: Type.String({ minLength: 1, maxLength: 200 }),
    secret: Type.String({ minLength: 1, maxLength: 500 }),
    csr: Type.String({ minLength: 1, maxLength: 16_384 }),
  },
  { additionalProperties: false },
);
const RegisterOut = Type.Object({
  trusted_client_id: Type.String(),
  oauth_client_id: Type.String(),
  oauth_client_secret: Type.String(),
  client_secret: Type.String(),
  certificate: Type.String(),
  ca_certificate: Type.String(),
});

/** The web-proxy (ICAP) side of the authorizer: its CA, config downloads and registration. */
export function registerIcapRoutes(app: FastifyInstance): void {
  const { database, clock, secretKey, config } = app.context;
  const db = database.db;
  const throttle = new LoginThrottle(app.context);

  // -------------------------------------------------------------------------------------------
  // CA

  app.get(
    '/icap/cas',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: { summary: 'The web-proxy CAs (a bare array)', tags: ['icap'], response: { 200: Type.Array(CaOut), ...errorResponses(401, 403) } },
    },
    async () => {
      await ensureWebProxyCa(db, clock.now());
      return (await listCas(db)).map(caObject);
    },
  );

  app.get(
    '/icap/cas/:id',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: { summary: 'One web-proxy CA', tags: ['icap'], params: CaParams, response: { 200: CaOut, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      const ca = await findCa(db, (request.params as { id: string }).id);
      if (!ca) throw notFound('CA');
      return caObject(ca);
    },
  );

  app.get(
    '/icap/cas/:id/crl',
    {
      config: { permissions: CA_READ_SCOPES },
      schema: {
        summary: 'The CA’s certificate revocation list: DER (application/pkix-crl), or PEM with ?format=pem',
        tags: ['icap'],
        params: CaParams,
        querystring: CrlQuery,
        response: { 200: Type.String({ description: 'CRL, DER or PEM' }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const ca = await findCa(db, (request.params as { id: string }).id);
      if (!ca) throw notFound('CA');
      const crl = await crlFor(db, ca, clock.now());
      if ((request.query as { format?: string }).format === 'pem') return reply.type('application/x-pem-file').send(crl.pem);
      return reply.type('application/pkix-crl').send(crl.der);
    },
  );

  // -------------------------------------------------------------------------------------------
  // Config download sessions

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

  // -------------------------------------------------------------------------------------------
  // Registration

  app.post(
    '/icap/register',
    {
      // Public: the one-time registration secret from the config file is the credential.
      config: { public: true },
      schema: {
        summary: 'Register a web proxy with its one-time secret and a CSR; answers its credentials and certificate',
        description:
          'Public route authenticated by the registration secret of a downloaded config. The secret works once, ' +
          'from an address inside the client’s subnets, for an enabled ICAP client that is not registered yet ' +
          '(unless allow_repeated_registration). Failures answer 403 and count towards the login throttle of the caller’s address.',
        tags: ['icap'],
        body: RegisterIn,
        response: { 200: RegisterOut, ...errorResponses(400, 403, 429) },
      },
    },
    async (request) => {
      const body = request.body as { trusted_client_id: string; secret: string; csr: string };
      const now = clock.now();
      const address = request.ip;
      const account = body.trusted_client_id.slice(0, 200);
      // The one-time secret is random and unguessable: failures count against the address only, so
      // knowing a client's id is not enough to lock its registration out.
      const attempt = await throttle.begin(address);
      const refuse = async (reason: string): Promise<PrivxError> => {
        await throttle.fail(attempt, 'web_proxy_registration', reason, account);
        return forbidden('web proxy registration refused');
      };

      const state = await registrationState(db, body.trusted_client_id);
      if (!state) throw await refuse('unknown trusted client');
      const secretHash = keyedHash(body.secret, secretKey);
      if (state.registrationSecretHash === null || !safeEqual(secretHash, state.registrationSecretHash)) throw await refuse('invalid or already used registration secret');
      if (state.registrationSecretExpires === null || state.registrationSecretExpires <= timestamp(now)) throw await refuse('registration secret expired');
      if (!state.enabled) throw await refuse('trusted client disabled');
      if (state.type !== 'ICAP') throw await refuse('trusted client is not a web proxy');
      if (state.registered && !state.allowRepeatedRegistration) throw await refuse('trusted client already registered');
      if (!addressInSubnets(address, state.subnets)) throw await refuse('address outside the trusted client’s subnets');

      const ca = await ensureWebProxyCa(db, now);
      const proxyAddress = state.webProxyAddress;
      const sans = net.isIP(proxyAddress)
        ? { ipAddresses: [proxyAddress] }
        : proxyAddress && isValidDnsName(proxyAddress)
          ? { dnsNames: [proxyAddress] }
          : {};
      // Sign before consuming the secret: a bad CSR must not burn it.
      let signed: { certificatePem: string; serial: string };
      try {
        signed = await signCertificateSigningRequest({
          ca: caMaterial(ca),
          csrPem: body.csr,
          commonName: `web-proxy-${state.id}`.slice(0, 64),
          validityDays: WEB_PROXY_CERTIFICATE_DAYS,
          extendedKeyUsage: 'both',
          ...sans,
        });
      } catch (error) {
        if (error instanceof InvalidCsrError) {
          await throttle.abandon(attempt);
          throw invalid('INVALID_REQUEST_DATA', `csr: ${error.message}`, 'csr');
        }
        throw error;
      }
      const notAfter = describeCertificate(signed.certificatePem).notAfter;
      const certificate = { serial: signed.serial, caId: ca.id, trustedClientId: state.id, issued: now, notAfter };

      const outcome = await db.transaction().execute(async (trx) => {
        const credentials = await completeRegistration(trx, secretKey, state.id, secretHash, now);
        if (!credentials) return undefined;
        await recordCertificate(trx, certificate);
        const replaced = await revokeWebProxyCertificates(trx, state.id, now, signed.serial);
        await recordAuditEvent(trx, {
          type: 'web_proxy_registration',
          outcome: 'success',
          principal: { type: 'trusted-client', id: state.id, name: state.name },
          sourceAddress: address,
          objectType: 'trusted-client',
          objectId: state.id,
          details: { name: state.name, certificate_serial: signed.serial, revoked_certificates: replaced, repeated: state.registered },
          at: now,
        });
        return credentials;
      });
      if (!outcome) {
        // A concurrent registration consumed the secret first; this certificate must never count.
        await recordCertificate(db, { ...certificate, revoked: now });
        throw await refuse('registration secret already used');
      }
      await throttle.succeed(attempt);
      // Tokens of an earlier registration stop working with its credentials.
      if (state.registered) await app.tokens.revokePrincipal('trusted-client', state.id);
      return {
        trusted_client_id: state.id,
        ...outcome,
        certificate: signed.certificatePem,
        ca_certificate: ca.certificate_pem,
      };
    },
  );
}
