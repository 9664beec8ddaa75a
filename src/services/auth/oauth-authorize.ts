import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { errorResponses } from '../../schemas.js';
import type { GrantContext } from './grants/types.js';
import { startLogin } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/** `GET /auth/api/v1/oauth/authorize`: starts the user half of authorization code + PKCE. */
export function registerAuthorizeRoutes(app: TypedApp, { context }: GrantContext): void {
  app.get(
    '/oauth/authorize',
    {
      config: { public: true },
      schema: {
        summary: 'Start an authorization-code login; answers 307 with a login token in Location',
        tags: ['auth'],
        querystring: Type.Object({
          client_id: Type.String({ maxLength: 200 }),
          redirect_uri: Type.String({ maxLength: 2000 }),
          response_type: Type.String({ maxLength: 50 }),
          state: Type.String({ minLength: 1, maxLength: 1024 }),
          code_challenge: Type.String({ maxLength: 200 }),
          code_challenge_method: Type.String({ maxLength: 20 }),
          user_agent: Type.Optional(Type.String({ maxLength: 1000 })),
        }),
        response: { 307: Type.Null(), ...errorResponses(400) },
      },
    },
    async (request, reply) => {
      const token = await startLogin(context, request.query);
      // The schema's 307 `null` documents an empty body; the plain reply sends none.
      const plain: FastifyReply = reply;
      return plain.code(307).header('location', `/privx/login?token=${encodeURIComponent(token)}`).send();
    },
  );
}
