import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { registerStatusRoute } from '../status.js';
import { registerAccessGroupRoutes } from './access-groups.js';
import { registerAuthorizerCaRoutes } from './authorizer-cas.js';
import { registerIcapCaRoutes } from './icap-cas.js';
import { registerIcapConfigRoutes } from './icap-config.js';
import { registerCarrierConfigRoutes } from './carrier-config.js';
import { registerExtenderCaRoutes } from './extender-cas.js';
import { registerExtenderConfigRoutes } from './extender-config.js';
import { registerIcapRegistrationRoutes } from './icap-registration.js';
import { registerIcapPolicyRoutes } from './icap-policy.js';
import { registerWebSessionRoutes } from './web-sessions.js';

/**
 * `/authorizer/api/v1`: the web-proxy (ICAP) and extender CAs and their CRLs, web-proxy, carrier
 * and extender config downloads, web-proxy registration, the web policy feed, web sessions, and
 * access groups with their CAs.
 */
const authorizerService: FastifyPluginAsyncTypebox = async (app) => {
  registerStatusRoute(app, 'authorizer');
  registerIcapCaRoutes(app);
  registerIcapConfigRoutes(app);
  registerCarrierConfigRoutes(app);
  registerExtenderCaRoutes(app);
  registerExtenderConfigRoutes(app);
  registerIcapRegistrationRoutes(app);
  registerIcapPolicyRoutes(app);
  registerWebSessionRoutes(app);
  registerAccessGroupRoutes(app);
  registerAuthorizerCaRoutes(app);
};

export default authorizerService;
