import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { registerStatusRoute } from '../status.js';
import { registerRoleMemberRoutes } from './members.js';
import { registerPermissionRoutes } from './permissions.js';
import { registerPrincipalKeyRoutes } from './principal-keys.js';
import { registerRoleRoutes } from './roles.js';
import type { RoleStoreDeps } from './use-cases.js';
import { registerRoleStoreUserRoutes } from './users.js';

/** `/role-store/api/v1`: roles, their permissions, members and principal keys, and users' roles. */
const roleStoreService: FastifyPluginAsyncTypebox = async (app) => {
  registerStatusRoute(app, 'role-store');
  const deps: RoleStoreDeps = { db: app.context.database.db, clock: app.context.clock, tokens: app.tokens, installationKey: app.context.installationKey };
  registerPermissionRoutes(app);
  registerRoleRoutes(app, deps);
  registerRoleMemberRoutes(app, deps);
  registerRoleStoreUserRoutes(app, deps);
  registerPrincipalKeyRoutes(app, deps);
};

export default roleStoreService;
