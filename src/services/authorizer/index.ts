import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { registerStatusRoute } from '../status.js';
import { registerAccessGroupRoutes } from './access-groups.js';
import { registerAuthorizerCaRoutes } from './authorizer-cas.js';
import { registerIcapCaRoutes } from './icap-cas.js';
import { registerIcapConfigRoutes } from './icap-config.js';
import { registerIcapRegistrationRoutes } from './icap-registration.js';
import { registerIcapPolicyRoutes } from './icap-policy.js';
import { registerWebSessionRoutes } from './web-sessions.js';

/**
 * `/authorizer/api/v1`: the web-proxy (ICAP) CA and its CRL, web-proxy config downloads and
 * registration, the web policy feed, web sessions, and access groups with their CAs.
 */
const authorizerService: FastifyPluginAsyncTypebox = async (app) => {
  registerStatusRoute(app, 'authorizer');
  registerIcapCaRoutes(app);
  registerIcapConfigRoutes(app);
  registerIcapRegistrationRoutes(app);
  registerIcapPolicyRoutes(app);
  registerWebSessionRoutes(app);
  registerAccessGroupRoutes(app);
  registerAuthorizerCaRoutes(app);
};

export default authorizerService;
