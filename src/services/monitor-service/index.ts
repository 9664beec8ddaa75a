import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { registerStatusRoute } from '../status.js';
import { registerAuditEventRoutes } from './audit-events.js';
import { registerComponentRoutes } from './components.js';
import { registerInstanceRoutes } from './instance.js';
import { registerTimeRoutes } from './time.js';

/** `/monitor-service/api/v1`: the audit log, component and instance health, the server clock. */
const monitorServiceService: FastifyPluginAsyncTypebox = async (app) => {
  registerStatusRoute(app, 'monitor-service');
  registerAuditEventRoutes(app);
  registerComponentRoutes(app);
  registerInstanceRoutes(app);
  registerTimeRoutes(app);
};

export default monitorServiceService;
