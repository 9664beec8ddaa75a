import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { forbidden, invalid, type PrivxError } from '../../errors.js';
import { describeCertificate, InvalidCsrError, isValidDnsName, signCertificateSigningRequest } from '../../lib/pki.js';
import { keyedHash, safeEqual } from '../../lib/secrets.js';
import { timestamp } from '../../lib/time.js';
import { errorResponses } from '../../schemas.js';
import { LoginThrottle } from '../auth/throttle.js';
import { addressInSubnets } from '../local-user-store/trusted-client-repository.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { completeRegistration, recordCertificate, registrationState, revokeWebProxyCertificates } from './repository.js';
import { caMaterial, ensureWebProxyCa } from './web-proxy-ca.js';

/** Validity of a web proxy's certificate; it re-registers (new config) to renew. */
const WEB_PROXY_CERTIFICATE_DAYS = 365;

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

/** `/icap/register`: a web proxy registers with the one-time secret of its downloaded config. */
export function registerIcapRegistrationRoutes(app: FastifyInstance): void {
  const { database, clock, secretKey } = app.context;
  const db = database.db;
  const throttle = new LoginThrottle(app.context);

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
