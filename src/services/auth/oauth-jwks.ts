import { Type } from '@sinclair/typebox';
import type { TokenService } from './token-service.js';
import type { TypedApp } from '../typed-app.js';

/** `GET /auth/api/v1/oauth/jwks`: the public keys that verify access tokens. Public, like PrivX's. */
export function registerJwksRoutes(app: TypedApp, tokens: TokenService): void {
  app.get(
    '/oauth/jwks',
    {
      config: { public: true },
      schema: {
        summary: 'Public keys that verify access tokens (JWKS)',
        tags: ['auth'],
        response: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.String())) }) },
      },
    },
    async () => ({ keys: await tokens.keys.publicJwks() }),
  );
}
