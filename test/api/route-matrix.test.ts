import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';
import { allRoutes, documentedRoutes, fillPath, type DocumentedRoute } from '../helpers/openapi.js';

/**
 * The route table as data: for every documented route, no token → 401, a token with no role →
 * 403, a token holding exactly one of the declared scopes → neither 401 nor 403.
 */
describe.each(testBackends())('permission matrix of every route on %s', (backend) => {
  let testApp: TestApp;
  let routes: DocumentedRoute[];
  let noRole: string;
  const scopeTokens = new Map<string, string>();

  async function tokenForScope(scope: string): Promise<string> {
    const cached = scopeTokens.get(scope);
    if (cached) return cached;
    let token: string;
    if (scope === 'admin') token = (await tokenWith(testApp, 'admin')).token;
    else if (scope === 'user') token = (await tokenWith(testApp, [])).token;
    else if (scope === 'service') {
      token = (await testApp.app.tokens.signAccessToken({ type: 'trusted-client', id: 'matrix-proxy', name: 'matrix-proxy', roles: [], permissions: [] }, 'matrix')).token;
    } else token = (await tokenWith(testApp, [scope])).token;
    scopeTokens.set(scope, token);
    return token;
  }

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    // Logout revokes the caller's tokens, so it goes last.
    routes = (await allRoutes(testApp.app)).sort((a, b) => Number(a.path.endsWith('/logout')) - Number(b.path.endsWith('/logout')));
    noRole = (await tokenWith(testApp, [])).token;
  });
  afterAll(async () => testApp?.close());

  it('documents every registered route that answers anything but 404, each with its permissions', async () => {
    const documented = new Set((await documentedRoutes(testApp.app)).map((route) => `${route.method} ${route.path}`));
    for (const route of testApp.app.routeTable) {
      expect(route.public || route.permissions.length > 0, `${route.method} ${route.url}`).toBe(true);
      const path = route.url.replace(/:([A-Za-z_]+)/g, '{$1}');
      if (route.url === '/api/openapi.json' || documented.has(`${route.method} ${path}`)) continue;
      // Undocumented routes exist only to give unknown names a proper 404.
      const response = await testApp.app.inject({ method: route.method as 'GET', url: fillPath(path, 'no-such-name'), headers: bearer(await tokenForScope('admin')), payload: route.method === 'GET' ? undefined : {} });
      expect(response.statusCode, `${route.method} ${route.url}`).toBe(404);
    }
  });

  it('protected routes: no token → 401, no role → 403 (or 401 is never the answer to a valid token)', async () => {
    const protectedRoutes = routes.filter((route) => route.permissions !== 'public');
    expect(protectedRoutes.length).toBeGreaterThan(15);
    for (const route of protectedRoutes) {
      const url = fillPath(route.path);
      const anonymous = await testApp.app.inject({ method: route.method as 'GET', url, headers: { 'content-type': 'application/json' }, payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : '{}' });
      expect(anonymous.statusCode, `${route.method} ${route.path} without token`).toBe(401);
      envelope(anonymous);
      const permissions = route.permissions as string[];
      const forbidden = await testApp.app.inject({ method: route.method as 'GET', url, headers: bearer(noRole), payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : {} });
      if (permissions.includes('user')) {
        expect([401, 403], `${route.method} ${route.path} with a role-less token`).not.toContain(forbidden.statusCode);
      } else {
        expect(forbidden.statusCode, `${route.method} ${route.path} with a role-less token`).toBe(403);
        expect(envelope(forbidden).error_code).toBe('PERMISSION_DENIED');
      }
    }
  });

  it('protected routes: a token holding exactly one declared scope passes the guard', async () => {
    for (const route of routes.filter((candidate) => candidate.permissions !== 'public')) {
      for (const scope of route.permissions as string[]) {
        const token = await tokenForScope(scope);
        const response = await testApp.app.inject({ method: route.method as 'GET', url: fillPath(route.path), headers: bearer(token), payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : {} });
        expect([401, 403], `${route.method} ${route.path} with scope ${scope}: ${response.body}`).not.toContain(response.statusCode);
        expect(response.statusCode, `${route.method} ${route.path}`).toBeLessThan(500);
      }
    }
  });

  it('public routes answer without a token and never 401 for lack of one', async () => {
    for (const route of routes.filter((candidate) => candidate.permissions === 'public')) {
      const response = await testApp.app.inject({ method: route.method as 'GET', url: fillPath(route.path), payload: route.method === 'GET' ? undefined : {} });
      expect(response.statusCode, `${route.method} ${route.path}`).toBeLessThan(500);
      if (!route.path.endsWith('/oauth/token') && !route.path.endsWith('/login') && !route.path.endsWith('/register')) {
        expect(response.statusCode, `${route.method} ${route.path}`).not.toBe(401);
      }
    }
  });
});
