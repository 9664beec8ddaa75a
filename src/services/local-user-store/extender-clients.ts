import { Type } from '@sinclair/typebox';
import { errorResponses, ListResponse } from '../../schemas.js';
import { listTrustedClientsOfType } from './trusted-client-repository.js';
import type { TypedApp } from '../typed-app.js';

/** The SDK's ExtenderClient: what a carrier or web proxy needs to route through an extender (no secrets, no ids). */
const ExtenderClientOut = Type.Object({
  type: Type.String(),
  name: Type.String(),
  routing_prefix: Type.String(),
  web_proxy_extender_route_patterns: Type.Array(Type.String()),
  extender_mode: Type.String(),
  extender_ssh_address: Type.String(),
  extender_ssh_port: Type.Integer(),
  extender_public_key: Type.String(),
});

/** `/local-user-store/api/v1/extender-clients`: the extenders, as components routing through them see them. */
export function registerExtenderClientRoutes(app: TypedApp): void {
  const db = app.context.database.db;

  app.get(
    '/extender-clients',
    {
      // Registered components (a carrier, a web proxy) read this to route through extenders.
      config: { permissions: ['admin', 'api-clients-manage', 'service'] },
      schema: {
        summary: 'List the extenders (trusted clients of type EXTENDER) with their routing fields',
        tags: ['trusted-clients'],
        response: { 200: ListResponse(ExtenderClientOut), ...errorResponses(401, 403) },
      },
    },
    async () => {
      const extenders = await listTrustedClientsOfType(db, 'EXTENDER');
      return {
        count: extenders.length,
        items: extenders.map((client) => ({
          type: client.type,
          name: client.name,
          routing_prefix: client.routing_prefix,
          web_proxy_extender_route_patterns: client.web_proxy_extender_route_patterns,
          extender_mode: client.extender_mode,
          extender_ssh_address: client.extender_ssh_address,
          extender_ssh_port: client.extender_ssh_port,
          extender_public_key: client.extender_public_key,
        })),
      };
    },
  );
}
