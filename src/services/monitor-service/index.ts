import type { FastifyInstance } from 'fastify';
import { registerStatusRoute } from '../status.js';
import { registerAuditEventRoutes } from './audit-events.js';

/** `/monitor-service/api/v1`: the audit log. */
export default async function monitorServiceService(app: FastifyInstance): Promise<void> {
  registerStatusRoute(app, 'monitor-service');
  registerAuditEventRoutes(app);
}
