import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { registerStatusRoute } from '../status.js';
import { registerAuthorizeRoutes } from './oauth-authorize.js';
import { registerJwksRoutes } from './oauth-jwks.js';
import { registerKeyRoutes } from './keys.js';
import { registerLoginRoutes } from './login.js';
import { registerLogoutRoutes } from './logout.js';
import { LoginThrottle } from './throttle.js';
import { registerTokenRoutes } from './oauth-token.js';

/** `/auth/api/v1`: tokens, user login, JWKS, logout, key rotation. */
const authService: FastifyPluginAsyncTypebox = async (app) => {
  registerStatusRoute(app, 'auth');
  const grantContext = { context: app.context, tokens: app.tokens, throttle: new LoginThrottle(app.context) };
  registerTokenRoutes(app, grantContext);
  registerAuthorizeRoutes(app, grantContext);
  registerLoginRoutes(app, grantContext);
  registerJwksRoutes(app, app.tokens);
  registerLogoutRoutes(app, app.context, app.tokens);
  registerKeyRoutes(app, app.context, app.tokens);
};

export default authService;
