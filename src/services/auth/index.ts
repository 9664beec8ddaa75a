import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses } from '../../schemas.js';
import { bumpPolicyVersion } from '../host-store/policy-version.js';
import { registerStatusRoute } from '../status.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { registerAuthorizeRoutes } from './authorize.js';
import { LoginThrottle } from './throttle.js';
import { registerTokenRoutes } from './token.js';
import { logout } from './use-cases.js';

/** `/auth/api/v1`: tokens, user login, JWKS, logout, key rotation. */
export default async function authService(app: FastifyInstance): Promise<void> {
  registerStatusRoute(app, 'auth');
  const grantContext = { context: app.context, tokens: app.tokens, throttle: new LoginThrottle(app.context) };
  registerTokenRoutes(app, grantContext);
  registerAuthorizeRoutes(app, grantContext);

  app.get(
    '/oauth/jwks',
    {
      config: { public: true },
      schema: {
        summary: 'Public keys that verify access tokens (JWKS)',
        tags: ['auth'],
        response: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.String())) }) },
      },
    },
    async () => ({ keys: await app.tokens.keys.publicJwks() }),
  );

  app.post(
    '/logout',
    {
      config: { permissions: ['user'] },
      schema: {
        summary: 'Revoke every token of the caller (access and refresh) on every node, and every web session it opened',
        tags: ['auth'],
        response: { 200: Type.Object({}), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      await logout(app.context, app.tokens, principalOf(request), request.ip);
      return {};
    },
  );

  app.post(
    '/keys/rotate',
    {
      config: { permissions: ['admin'] },
      schema: {
        summary: 'Start a new token-signing key; the previous one keeps verifying until its tokens expire',
        tags: ['auth'],
        response: { 200: Type.Object({ kid: Type.String() }), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const kid = await app.tokens.keys.rotate(app.context.clock.now());
      // Web proxies verify web-session tokens with the keys in the policy feed.
      await bumpPolicyVersion(app.context.database.db);
      await recordAuditEvent(app.context.database.db, { type: 'signing_key_rotated', outcome: 'success', principal: principalOf(request), objectType: 'signing_key', objectId: kid, at: app.context.clock.now() });
      return { kid };
    },
  );
}
