import type { FastifyInstance, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { forbidden, unauthorized } from '../errors.js';
import { hasAnyScope, type Principal, type Scope } from '../access.js';

type TokenCheckResult = { ok: true; principal: Principal } | { ok: false; reason: string };

/** Turns a bearer token into a principal, or says why it is missing, invalid, expired or revoked. */
export interface AccessTokenVerifier {
  /** The key the verifier remembers `token` by (a digest; computing it is the costly part of a remembered check). */
  keyOf(token: string): string;
  check(token: string, key?: string): Promise<TokenCheckResult>;
  /** The same answer when it is known without waiting (a remembered token), else undefined. */
  checkRemembered?(token: string, key?: string): TokenCheckResult | undefined;
}

/**
 * The last Authorization header a connection presented and its verifier key. Clients send the same
 * token on every request of a keep-alive connection, so the digest is computed once per connection
 * and token. Kept per connection: a lookup compares only against that connection's own previous
 * header.
 */
interface PresentedToken {
  header: string;
  token: string;
  key: string;
}
/**
 * Kept beside the socket, not on it: a property added to Node's socket objects after they are made
 * changes their hidden class, and Node's stream code then migrates every socket it touches (measured:
 * ~10 % of the API read path's CPU).
 */
const lastPresented = new WeakMap<object, PresentedToken>();

function presentedToken(header: string | undefined, connection: object | null, verifier: AccessTokenVerifier): PresentedToken | undefined {
  if (!header) return undefined;
  const last = connection ? lastPresented.get(connection) : undefined;
  if (last !== undefined && last.header === header) return last;
  const token = BEARER.exec(header)?.[1];
  if (!token) return undefined;
  const presented = { header, token, key: verifier.keyOf(token) };
  if (connection) lastPresented.set(connection, presented);
  return presented;
}

/**
 * The principal of an Authorization header when the verifier already knows the token is good
 * (a remembered check, no waiting) and it holds one of `permissions`; undefined in every other
 * case — no or bad header, a token not remembered, rejected or lacking the scope. For answering
 * without the full guard (see HotReads); the guard itself gives the reasons and the right status.
 */
export function rememberedPrincipal(verifier: AccessTokenVerifier, header: string | undefined, connection: object | null, permissions: readonly Scope[]): Principal | undefined {
  const presented = presentedToken(header, connection, verifier);
  const result = presented && verifier.checkRemembered?.(presented.token, presented.key);
  return result?.ok && hasAnyScope(result.principal, permissions) ? result.principal : undefined;
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

/** How a scope reads in a refusal: `admin` is the privx-admin role, `service` a registered trusted client. */
function scopeName(scope: Scope): string {
  if (scope === 'admin') return 'privx-admin';
  if (scope === 'service') return 'service (a registered trusted client)';
  return scope;
}

/**
 * The message of the guard's 403: what the route declares, which the OpenAPI document publishes
 * anyway (`x-privgate-permissions`), so it tells the caller nothing secret.
 */
export function deniedMessage(permissions: readonly Scope[]): string {
  return `needs one of the permissions: ${permissions.map(scopeName).join(', ')}`;
}

/**
 * Authentication and the permission guard. A route declares `config.permissions` (any-of) or
 * `config.public: true`; a route declaring neither fails at registration, so nothing is
 * accidentally open. Missing/invalid/expired/revoked token → 401 with `WWW-Authenticate`; a valid
 * token lacking every listed scope → 403 PERMISSION_DENIED naming them.
 */
export const authenticatePlugin = fp<{ verifier: AccessTokenVerifier; onRejected?: RejectedTokenListener }>(
  async (app: FastifyInstance, options) => {
    const routeTable: RouteDeclaration[] = [];
    app.decorate('routeTable', routeTable);
    app.decorateRequest('principal', undefined);

    // Callback style: a token this node already verified, with a recent revocation answer, is
    // accepted without a promise or a database round trip (see TokenService.checkRemembered).
    const guard = (permissions: readonly Scope[]): onRequestHookHandler => {
      const denial = deniedMessage(permissions);
      return function authenticate(request, _reply, done) {
        const presented = presentedToken(request.headers.authorization, request.raw.socket, options.verifier);
        if (!presented) {
          done(unauthorized('missing bearer access token'));
          return;
        }
        const { token, key } = presented;
        const settle = (result: TokenCheckResult): void => {
          if (!result.ok) {
            const rejected = unauthorized('invalid, expired or revoked access token', 'INVALID_TOKEN');
            if (!options.onRejected) done(rejected);
            else options.onRejected(request, result.reason).then(() => done(rejected), done);
            return;
          }
          request.principal = result.principal;
          done(hasAnyScope(result.principal, permissions) ? undefined : forbidden(denial));
        };
        let remembered: TokenCheckResult | undefined;
        try {
          remembered = options.verifier.checkRemembered?.(token, key);
        } catch (error) {
          done(error as Error);
          return;
        }
        if (remembered) settle(remembered);
        else options.verifier.check(token, key).then(settle, done);
      };
    };

    // Each non-public route gets the guard as its first onRequest hook, bound to its permissions:
    // public routes and the not-found handler run no authentication at all.
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
      if (!isPublic) route.onRequest = [guard(permissions), ...[route.onRequest ?? []].flat()];
    });
  },
  { name: 'authenticate' },
);
