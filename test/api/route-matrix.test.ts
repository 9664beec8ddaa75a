import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';
import { allRoutes, documentedRoutes, fillPath, type DocumentedRoute } from '../helpers/openapi.js';
import { valueFor, type JsonSchema } from '../helpers/schema-arbitrary.js';

/** How many generated bodies a route gets before the matrix gives up finding one its schema accepts. */
const BODY_ATTEMPTS = 12;

/**
 * `schema` with every patterned string replaced by an enum of strings matching the pattern (the
 * shared generator does not honour patterns, and a body its own route rejects proves nothing).
 */
function honouringPatterns(schema: JsonSchema, seed: number): JsonSchema {
  if (typeof schema !== 'object' || schema === null) return schema;
  if (schema.pattern !== undefined && (schema.type === 'string' || schema.type === undefined)) {
    const { minLength = 0, maxLength = 64 } = schema;
    const matching = fc.stringMatching(new RegExp(schema.pattern)).filter((value) => value.length >= minLength && value.length <= Math.min(maxLength, 64));
    return { enum: fc.sample(matching, { seed, numRuns: 5 }) };
  }
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (Array.isArray(value)) copy[key] = value.map((item: unknown) => (typeof item === 'object' && item !== null ? honouringPatterns(item as JsonSchema, seed) : item));
    else if (typeof value === 'object' && value !== null) {
      copy[key] = key === 'properties' ? Object.fromEntries(Object.entries(value as Record<string, JsonSchema>).map(([name, property]) => [name, honouringPatterns(property, seed)])) : honouringPatterns(value as JsonSchema, seed);
    } else copy[key] = value;
  }
  return copy as JsonSchema;
}

/** A route's query string with its required parameters filled with schema-valid values. */
function validQuery(route: DocumentedRoute, seed: number): string {
  const operation = route.operation as { parameters?: Array<{ in: string; name: string; schema?: JsonSchema; required?: boolean }> };
  const search = new URLSearchParams();
  for (const parameter of (operation.parameters ?? []).filter((candidate) => candidate.in === 'query' && candidate.required)) {
    const [value] = fc.sample(valueFor(honouringPatterns(parameter.schema ?? { type: 'string' }, seed)), { seed, numRuns: 1 });
    search.set(parameter.name, typeof value === 'string' ? value : JSON.stringify(value));
  }
  return search.size > 0 ? `?${search}` : '';
}

function seedOf(route: DocumentedRoute): number {
  return [...`${route.method} ${route.path}`].reduce((hash, char) => (hash * 31 + char.charCodeAt(0)) | 0, 7);
}

/**
 * Schema-valid request bodies for a route (fixed seed: the matrix is not a fuzzer), as JSON, or
 * undefined for a route without a body. Role references and permission lists are emptied: granting
 * a role or permission the caller lacks is refused by the grant rule — a different, tested 403 —
 * and unknown role ids are a 400 that would hide the handler.
 */
function validBodies(route: DocumentedRoute): Array<string | undefined> {
  if (route.method === 'GET' || route.method === 'DELETE') return [undefined];
  const operation = route.operation as { requestBody?: { content?: Record<string, { schema?: JsonSchema }> } };
  const schema = operation.requestBody?.content?.['application/json']?.schema;
  if (!schema) return ['{}'];
  const seed = seedOf(route);
  const required = new Set(schema.required ?? []);
  const samples = fc.sample(valueFor(honouringPatterns(schema, seed)), { seed, numRuns: BODY_ATTEMPTS });
  // Then the same with only the required keys: the generator cannot meet every rule a handler
  // checks beyond the schema (CIDRs, empty-only fields), and optional keys are where those live.
  const minimal = samples.map((value) => (typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).filter(([key]) => required.has(key))) : value));
  return [...samples, ...minimal].map((value) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const body = value as Record<string, unknown>;
      if ('roles' in body) body.roles = [];
      if ('permissions' in body) body.permissions = [];
    }
    return JSON.stringify(value);
  });
}

/**
 * The route table as data: for every documented route, no token → 401, a token with no role →
 * 403, a token holding exactly one of the declared scopes and sending a schema-valid body →
 * neither 401 nor 403 (so no handler checks a permission the route does not declare).
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

  it('protected routes: a token holding exactly one declared scope passes the guard and the handler does not refuse it 403', async () => {
    // A schema-valid body gets past validation to the handler, so a permission checked inside a
    // handler instead of declared on the route shows up here as a 403.
    const withoutValidBody: string[] = [];
    for (const route of routes.filter((candidate) => candidate.permissions !== 'public')) {
      const bodies = validBodies(route);
      const url = `${fillPath(route.path)}${validQuery(route, seedOf(route))}`;
      for (const scope of route.permissions as string[]) {
        const token = await tokenForScope(scope);
        let response;
        for (const payload of bodies) {
          response = await testApp.app.inject({ method: route.method as 'GET', url, headers: { ...bearer(token), ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, payload });
          if (response.statusCode !== 400) break;
        }
        if (!response) throw new Error('no request sent');
        if (response.statusCode === 400) withoutValidBody.push(`${route.method} ${route.path}: ${response.body}`);
        expect([401, 403], `${route.method} ${route.path} with scope ${scope}: ${response.body}`).not.toContain(response.statusCode);
        expect(response.statusCode, `${route.method} ${route.path}`).toBeLessThan(500);
      }
    }
    expect(withoutValidBody, 'routes whose handler the matrix never reached').toEqual([]);
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
