import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../context.js';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses } from '../../schemas.js';
import type { TokenService } from './token-service.js';
import { rotateSigningKey } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/** `POST /auth/api/v1/keys/rotate`: a new token-signing key. */
export function registerKeyRoutes(app: TypedApp, context: AppContext, tokens: TokenService): void {
  app.post(
    '/keys/rotate',
    {
      config: { permissions: ['admin'] },
      schema: {
        summary: 'Start a new token-signing key; the previous one keeps verifying until its tokens expire',
        tags: ['auth'],
        response: { 200: Type.Object({ kid: Type.String() }), ...errorResponses(401, 403) },
      },
    },
    async (request) => ({ kid: await rotateSigningKey(context, tokens, principalOf(request)) }),
  );
}
