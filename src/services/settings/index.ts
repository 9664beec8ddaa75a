import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { registerStatusRoute } from '../status.js';
import { SETTINGS_SCOPES } from './registry.js';
import { registerRestartRequiredFallbackRoute, registerRestartRequiredRoute } from './restart-required.js';
import { registerSchemaFallbackRoutes, registerScopeSchemaRoutes } from './schema.js';
import { registerScopeSettingsRoutes, registerSettingsFallbackRoutes } from './settings.js';

/**
 * `/settings/api/v1`: settings by scope and section, declared in registry.ts; each declared scope
 * and section gets its own routes, parametric fallbacks answer 404 for anything undeclared.
 */
const settingsService: FastifyPluginAsyncTypebox = async (app) => {
  registerStatusRoute(app, 'settings');
  for (const scope of SETTINGS_SCOPES) {
    registerScopeSettingsRoutes(app, scope);
    registerScopeSchemaRoutes(app, scope);
    registerRestartRequiredRoute(app, scope);
  }
  registerSettingsFallbackRoutes(app);
  registerSchemaFallbackRoutes(app);
  registerRestartRequiredFallbackRoute(app);
};

export default settingsService;
