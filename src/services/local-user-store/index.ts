import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { registerStatusRoute } from '../status.js';
import { registerApiClientRoutes } from './api-clients.js';
import { registerExtenderClientRoutes } from './extender-clients.js';
import { registerUserRoutes } from './users.js';

/** `/local-user-store/api/v1`: users, API clients (and trusted clients, registered by the authorizer's module). */
const localUserStoreService: FastifyPluginAsyncTypebox = async (app) => {
  registerStatusRoute(app, 'local-user-store');
  registerUserRoutes(app);
  registerApiClientRoutes(app);
  (await import('./trusted-clients.js')).registerTrustedClientRoutes(app);
  registerExtenderClientRoutes(app);
};

export default localUserStoreService;
