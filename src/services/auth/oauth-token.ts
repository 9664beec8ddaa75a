import { Type } from '@sinclair/typebox';
import { PrivxError } from '../../errors.js';
import { errorResponses } from '../../schemas.js';
import { authorizationCodeGrant } from './grants/authorization-code.js';
import { passwordGrant } from './grants/password.js';
import { refreshTokenGrant } from './grants/refresh-token.js';
import type { Grant, GrantContext, TokenRequestBody } from './grants/types.js';
import { revokeToken } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

/** Grant types by their OAuth2 name; adding one is a file and a line here. */
const GRANTS: ReadonlyMap<string, Grant> = new Map([
  ['password', passwordGrant],
  ['authorization_code', authorizationCodeGrant],
  ['refresh_token', refreshTokenGrant],
]);

const Field = Type.Optional(Type.String({ maxLength: 4096 }));
const TokenRequest = Type.Object(
  {
    grant_type: Field,
    username: Field,
    password: Field,
    code: Field,
    code_verifier: Field,
    redirect_uri: Field,
    client_id: Field,
    refresh_token: Field,
    scope: Field,
  },
  { additionalProperties: true },
);
const TokenResponseSchema = Type.Object({
  access_token: Type.String(),
  token_type: Type.String(),
  expires_in: Type.Integer(),
  refresh_token: Type.String(),
});

/** `POST /oauth/token` and `POST /oauth/revoke`. */
export function registerTokenRoutes(app: TypedApp, grantContext: GrantContext): void {
  app.post(
    '/oauth/token',
    {
      config: { public: true },
      schema: {
        summary: 'OAuth2 token endpoint (password, authorization_code with PKCE, refresh_token)',
        tags: ['auth'],
        consumes: ['application/x-www-form-urlencoded', 'application/json'],
        body: TokenRequest,
        response: { 200: TokenResponseSchema, ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const body = (request.body ?? {}) as TokenRequestBody;
      const grant = GRANTS.get(body.grant_type ?? '');
      if (!grant) {
        throw new PrivxError(400, 'UNSUPPORTED_GRANT_TYPE', `unsupported grant_type "${String(body.grant_type ?? '')}"`, { property: 'grant_type' });
      }
      return grant(grantContext, request, body);
    },
  );

  app.post(
    '/oauth/revoke',
    {
      config: { public: true },
      schema: {
        summary: 'Revoke a refresh token (its whole family, with the access tokens minted from it) or an access token (RFC 7009)',
        tags: ['auth'],
        consumes: ['application/x-www-form-urlencoded', 'application/json'],
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 8192 }), token_type_hint: Field }, { additionalProperties: true }),
        response: { 200: Type.Object({}), ...errorResponses(400) },
      },
    },
    async (request) => {
      await revokeToken(grantContext.tokens, request.body.token);
      // RFC 7009: unknown tokens are not an error, so the answer says nothing about validity.
      return {};
    },
  );
}
