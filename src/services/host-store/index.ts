import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { registerStatusRoute } from '../status.js';
import { registerHostRoutes } from './hosts.js';
import { registerHostStoreSettingsRoutes } from './settings.js';
import { registerWhitelistRoutes } from './whitelists.js';

/** `/host-store/api/v1`: hosts, command whitelists, and the default service options (read side). */
const hostStoreService: FastifyPluginAsyncTypebox = async (app) => {
  registerStatusRoute(app, 'host-store');
  registerHostStoreSettingsRoutes(app);
  registerHostRoutes(app);
  registerWhitelistRoutes(app);
};

export default hostStoreService;
