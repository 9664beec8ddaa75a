import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { forbidden, unauthorized } from '../errors.js';
import { hasAnyScope, type Principal } from '../services/auth/principal.js';
import type { Scope } from '../services/role-store/permissions.js';

type TokenCheckResult = { ok: true; principal: Principal } | { ok: false; reason: string };

/** Turns a bearer token into a principal, or says why it is missing, invalid, expired or revoked. */
export interface AccessTokenVerifier {
  check(token: string): Promise<TokenCheckResult>;
  /** The same answer when it is known without waiting (a remembered token), else undefined. */
  checkRemembered?(token: string): TokenCheckResult | undefined;
}

/** Told about every presented-but-rejected token (for the audit trail). */
export type RejectedTokenListener = (request: FastifyRequest, reason: string) => Promise<void>;

/** One row of the route table: what a route requires. */
export interface RouteDeclaration {
  method: string;
  url: string;
  public: boolean;
  permissions: readonly Scope[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Any-of: the caller needs one of these scopes. */
    permissions?: readonly Scope[];
    /** Reachable without a token (token endpoint, login, status, JWKS, OpenAPI). */
    public?: boolean;
  }
  interface FastifyRequest {
    /** Set for every non-public route once the token checked out. */
    principal: Principal | undefined;
  }
  interface FastifyInstance {
    /** Every registered route with its declared access. */
    routeTable: RouteDeclaration[];
  }
}

const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)$/i;

/** The principal of a request on a non-public route; the guard has already ensured it is there. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthorized();
  return request.principal;
}

/**
 * Authentication and the permission guard. A route declares `config.permissions` (any-of) or
 * `config.public: true`; a route declaring neither fails at registration, so nothing is
 * accidentally open. Missing/invalid/expired/revoked token → 401 with `WWW-Authenticate`; a valid
 * token lacking every listed scope → 403 PERMISSION_DENIED.
 */
export const authenticatePlugin = fp<{ verifier: AccessTokenVerifier; onRejected?: RejectedTokenListener }>(
  async (app: FastifyInstance, options) => {
    const routeTable: RouteDeclaration[] = [];
    app.decorate('routeTable', routeTable);
    app.decorateRequest('principal', undefined);

    app.addHook('onRoute', (route: RouteOptions) => {
      const config = (route.config ?? {}) as { permissions?: readonly Scope[]; public?: boolean };
      const isPublic = config.public === true;
      const permissions = config.permissions ?? [];
      if (!isPublic && permissions.length === 0) {
        throw new Error(`route ${String(route.method)} ${route.url} declares neither permissions nor public`);
      }
      if (isPublic && permissions.length > 0) {
        throw new Error(`route ${String(route.method)} ${route.url} is public and also declares permissions`);
      }
      for (const method of [route.method].flat()) {
        routeTable.push({ method, url: route.url, public: isPublic, permissions });
      }
    });

    // Callback style: a token this node already verified, with a recent revocation answer, is
    // accepted without a promise or a database round trip (see TokenService.checkRemembered).
    app.addHook('onRequest', (request, _reply, done) => {
      const config = request.routeOptions.config;
      // Unknown routes reach the not-found handler without a declaration; it answers 404.
      if (request.routeOptions.url === undefined || config.public) {
        done();
        return;
      }
      const header = request.headers.authorization;
      const match = header ? BEARER.exec(header) : null;
      const token = match?.[1];
      if (!token) {
        done(unauthorized('missing bearer access token'));
        return;
      }
      const settle = (result: TokenCheckResult): void => {
        if (!result.ok) {
          const rejected = unauthorized('invalid, expired or revoked access token', 'INVALID_TOKEN');
          if (!options.onRejected) done(rejected);
          else options.onRejected(request, result.reason).then(() => done(rejected), done);
          return;
        }
        request.principal = result.principal;
        done(hasAnyScope(result.principal, config.permissions ?? []) ? undefined : forbidden());
      };
      let remembered: TokenCheckResult | undefined;
      try {
        remembered = options.verifier.checkRemembered?.(token);
      } catch (error) {
        done(error as Error);
        return;
      }
      if (remembered) settle(remembered);
      else options.verifier.check(token).then(settle, done);
    });
  },
  { name: 'authenticate' },
);
