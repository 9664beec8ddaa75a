import type { FastifyInstance } from 'fastify';
import { registerStatusRoute } from '../status.js';
import { registerHostRoutes } from './hosts.js';
import { registerHostStoreSettingsRoutes } from './settings.js';

/** `/host-store/api/v1`: hosts, and the default service options (read side). */
export default async function hostStoreService(app: FastifyInstance): Promise<void> {
  registerStatusRoute(app, 'host-store');
  registerHostStoreSettingsRoutes(app);
  registerHostRoutes(app);
}
