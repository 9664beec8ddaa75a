import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../../../context.js';
import type { LoginThrottle } from '../throttle.js';
import type { TokenResponse, TokenService } from '../token-service.js';

/** The form fields of `POST /auth/api/v1/oauth/token` (all optional; each grant checks its own). */
export interface TokenRequestBody {
  grant_type?: string;
  username?: string;
  password?: string;
  code?: string;
  code_verifier?: string;
  redirect_uri?: string;
  client_id?: string;
  refresh_token?: string;
}

export interface GrantContext {
  context: AppContext;
  tokens: TokenService;
  throttle: LoginThrottle;
}

/** One OAuth2 grant type: validates the request and answers a token response or throws. */
export type Grant = (grant: GrantContext, request: FastifyRequest, body: TokenRequestBody) => Promise<TokenResponse>;
