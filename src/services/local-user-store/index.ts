import type { FastifyInstance } from 'fastify';
import { registerStatusRoute } from '../status.js';
import { registerApiClientRoutes } from './api-clients.js';
import { registerUserRoutes } from './users.js';

/** `/local-user-store/api/v1`: users, API clients (and trusted clients, registered by the authorizer's module). */
export default async function localUserStoreService(app: FastifyInstance): Promise<void> {
  registerStatusRoute(app, 'local-user-store');
  registerUserRoutes(app);
  registerApiClientRoutes(app);
  (await import('./trusted-clients.js')).registerTrustedClientRoutes(app);
}
