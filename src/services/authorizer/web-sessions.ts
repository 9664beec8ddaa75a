import crypto from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { forbidden, notFound, unauthorized } from '../../errors.js';
import { signJwt } from '../../lib/jwt.js';
import { resolveEffectiveServiceOptions } from '../../lib/service-options.js';
import { timestamp } from '../../lib/time.js';
import { WEB_SESSION_AUDIENCE, type WebSessionClaims } from '../../lib/web-policy.js';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam } from '../../schemas.js';
import { bumpPolicyVersion } from '../host-store/policy-version-repository.js';
import { getDefaultServiceOptions, getHost } from '../host-store/repository.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { findWebSession, insertWebSession, revokeWebSession } from './repository.js';
import type { TypedApp } from '../typed-app.js';

const SessionIn = Type.Object(
  {
    host_id: Type.String({ minLength: 1, maxLength: 200 }),
    principal: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);
const SessionOut = Type.Object({ session_id: Type.String(), token: Type.String(), expires: Type.String() });
const Params = Type.Object({ session_id: IdParam });

/** `/icap/sessions`: short-lived, revocable web sessions (ES256 tokens the web proxy verifies). */
export function registerWebSessionRoutes(app: TypedApp): void {
  const { database, clock, config } = app.context;
  const db = database.db;

  app.post(
    '/icap/sessions',
    {
      // Installation-wide for now (per-host roles and access groups are not modelled): web-access
      // or hosts-manage opens a session to any WEB host principal; privx-admin passes any-of.
      config: { permissions: ['web-access', 'hosts-manage'] },
      schema: {
        summary: 'Open a web session to a WEB host as one of its principals',
        description:
          'Needs web-access, hosts-manage or privx-admin (per-host roles and access groups are not modelled yet). ' +
          'The token is an ES256 JWT (aud privgate-web-proxy) verified by web proxies with the policy feed’s session_keys.',
        tags: ['icap'],
        body: SessionIn,
        response: { 201: SessionOut, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const body = request.body;
      const [host, defaults] = await Promise.all([getHost(db, body.host_id), getDefaultServiceOptions(db)]);
      const services = host.services.filter((service) => service.service === 'WEB');
      // A disabled host is not in the policy feed either; to a user it does not exist.
      if (services.length === 0 || String(host.disabled).toUpperCase() !== 'FALSE') throw notFound('web host', 'host_id');
      const account = host.principals.find((candidate) => candidate.principal === body.principal);
      if (!account) throw notFound('host principal', 'principal');
      const hostName = host.name || host.common_name || host.id;
      const now = clock.now();
      const iat = Math.floor(now.getTime() / 1000);
      const exp = iat + config.webSessionTtlSeconds;
      const sessionId = crypto.randomUUID();
      const domains = new Set<string>();
      for (const service of services) for (const domain of service.allowed_domains ?? []) domains.add(domain);
      const claims: WebSessionClaims = {
        iss: 'privgate',
        aud: WEB_SESSION_AUDIENCE,
        sid: sessionId,
        sub: principal.id,
        name: principal.name,
        host_id: host.id,
        principal: account.principal,
        allowed_domains: [...domains],
        web: resolveEffectiveServiceOptions(defaults, account.service_options).options.web,
        iat,
        exp,
      };
      const token = await signJwt(claims as unknown as Record<string, unknown>, app.tokens.keys.current);
      const expires = timestamp(new Date(exp * 1000));
      await db.transaction().execute(async (trx) => {
        // The token may have been revoked (logout, deletion, a role change) since the guard checked
        // it; a session opened now would escape that revocation's sweep.
        if (await app.tokens.revokedSince(principal, trx)) throw unauthorized('invalid, expired or revoked access token', 'INVALID_TOKEN');
        await insertWebSession(trx, {
          id: sessionId,
          user_type: principal.type,
          user_id: principal.id,
          user_name: principal.name,
          host_id: host.id,
          principal: account.principal,
          created: timestamp(now),
          expires,
          revoked: null,
        });
        await recordAuditEvent(trx, {
          type: 'web_session_created',
          outcome: 'success',
          principal,
          sourceAddress: request.ip,
          objectType: 'host',
          objectId: host.id,
          details: { web_session_id: sessionId, host_name: hostName, principal: account.principal, expires },
          at: now,
        });
      });
      return reply.code(201).send({ session_id: sessionId, token, expires });
    },
  );

  app.delete(
    '/icap/sessions/:session_id',
    {
      // Any principal may ask; whether it may revoke THIS session is an ownership rule on the
      // object (its own session, or privx-admin), checked below, not a permission.
      config: { permissions: ['user'] },
      schema: {
        summary: 'Revoke a web session (its own user or an admin); web proxies learn it from the policy feed',
        tags: ['icap'],
        params: Params,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { session_id: sessionId } = request.params;
      const session = await findWebSession(db, sessionId);
      if (!session) throw notFound('web session');
      const own = session.user_type === principal.type && session.user_id === principal.id;
      if (!own && !principal.admin) throw forbidden('only the session’s user or an admin may revoke it');
      const now = clock.now();
      await db.transaction().execute(async (trx) => {
        if (!(await revokeWebSession(trx, sessionId, now))) return;
        await bumpPolicyVersion(trx);
        await recordAuditEvent(trx, {
          type: 'web_session_revoked',
          outcome: 'success',
          principal,
          sourceAddress: request.ip,
          objectType: 'web-session',
          objectId: sessionId,
          details: { host_id: session.host_id, principal: session.principal, user_id: session.user_id },
          at: now,
        });
      });
      return {};
    },
  );
}
