import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../context.js';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses } from '../../schemas.js';
import type { TokenService } from './token-service.js';
import { logout } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/** `POST /auth/api/v1/logout`: the caller's tokens and web sessions end everywhere. */
export function registerLogoutRoutes(app: TypedApp, context: AppContext, tokens: TokenService): void {
  app.post(
    '/logout',
    {
      config: { permissions: ['user'] },
      schema: {
        summary: 'Revoke every token of the caller (access and refresh) on every node, and every web session it opened',
        tags: ['auth'],
        response: { 200: Type.Object({}), ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      await logout(context, tokens, principalOf(request), request.ip);
      return {};
    },
  );
}
