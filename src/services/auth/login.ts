import { Type } from '@sinclair/typebox';
import { errorResponses } from '../../schemas.js';
import type { GrantContext } from './grants/types.js';
import { login } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/** `POST /auth/api/v1/login`: the login page's post, answering the authorization code. */
export function registerLoginRoutes(app: TypedApp, { context, throttle }: GrantContext): void {
  app.post(
    '/login',
    {
      config: { public: true },
      schema: {
        summary: 'Log a user in against a login token from /oauth/authorize; answers the authorization code',
        tags: ['auth'],
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 200 }),
            password: Type.String({ maxLength: 1024 }),
            token: Type.String({ minLength: 1, maxLength: 200 }),
          },
          { additionalProperties: true },
        ),
        response: { 200: Type.Object({ code: Type.String(), state: Type.String() }), ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => login(context, throttle, request.body, request.ip),
  );
}
