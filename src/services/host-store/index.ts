import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { registerStatusRoute } from '../status.js';
import { registerHostRoutes } from './hosts.js';
import { registerHostStoreSettingsRoutes } from './settings.js';

/** `/host-store/api/v1`: hosts, and the default service options (read side). */
const hostStoreService: FastifyPluginAsyncTypebox = async (app) => {
  registerStatusRoute(app, 'host-store');
  registerHostStoreSettingsRoutes(app);
  registerHostRoutes(app);
};

export default hostStoreService;
