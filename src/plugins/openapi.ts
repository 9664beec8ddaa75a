import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import { VERSION } from '../version.js';

/**
 * The OpenAPI 3 document, generated from the same TypeBox schemas that validate requests and
 * serialise responses, served at `/api/openapi.json`. Each route's declared scopes are carried
 * as `x-privgate-permissions` so the route table can be derived from the document.
 */
export const openApiPlugin = fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: { title: 'privgate', description: 'PrivX-compatible privileged-access control plane', version: VERSION },
        components: {
          securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
        },
      },
      transform: ({ schema, url, route }) => {
        const config = (route.config ?? {}) as { permissions?: readonly string[]; public?: boolean };
        const transformed = { ...(schema ?? {}) } as Record<string, unknown>;
        transformed['x-privgate-permissions'] = config.public ? 'public' : [...(config.permissions ?? [])];
        if (!config.public) transformed.security = [{ bearer: [] }];
        return { schema: transformed as typeof schema, url };
      },
    });
    app.get('/api/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'openapi', dependencies: ['authenticate'] },
);
