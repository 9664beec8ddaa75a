import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { registerStatusRoute } from '../status.js';
import { registerAuditEventRoutes } from './audit-events.js';

/** `/monitor-service/api/v1`: the audit log. */
const monitorServiceService: FastifyPluginAsyncTypebox = async (app) => {
  registerStatusRoute(app, 'monitor-service');
  registerAuditEventRoutes(app);
};

export default monitorServiceService;
