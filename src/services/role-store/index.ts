import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { registerStatusRoute } from '../status.js';
import { registerRoleMemberRoutes } from './members.js';
import { registerPermissionRoutes } from './permissions.js';
import { registerRoleRoutes } from './roles.js';
import type { UseCaseDeps } from './use-cases.js';
import { registerRoleStoreUserRoutes } from './users.js';

/** `/role-store/api/v1`: roles, their permissions and members, and users' roles. */
const roleStoreService: FastifyPluginAsyncTypebox = async (app) => {
  registerStatusRoute(app, 'role-store');
  const deps: UseCaseDeps = { db: app.context.database.db, clock: app.context.clock, tokens: app.tokens };
  registerPermissionRoutes(app);
  registerRoleRoutes(app, deps);
  registerRoleMemberRoutes(app, deps);
  registerRoleStoreUserRoutes(app, deps);
};

export default roleStoreService;
