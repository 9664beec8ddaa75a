import type { FastifyInstance } from 'fastify';

export interface DocumentedRoute {
  method: string;
  /** OpenAPI path template, e.g. `/host-store/api/v1/hosts/{id}`. */
  path: string;
  permissions: 'public' | string[];
  operation: Record<string, unknown>;
}

/** Every operation of the served OpenAPI document, with its declared permissions. */
export async function documentedRoutes(app: FastifyInstance): Promise<DocumentedRoute[]> {
  const response = await app.inject({ method: 'GET', url: '/api/openapi.json' });
  const document = response.json() as { paths: Record<string, Record<string, Record<string, unknown>>> };
  const routes: DocumentedRoute[] = [];
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      routes.push({ method: method.toUpperCase(), path, permissions: operation['x-privgate-permissions'] as DocumentedRoute['permissions'], operation });
    }
  }
  return routes;
}

export const PLACEHOLDER_ID = '00000000-0000-4000-8000-00000000dead';

/** The path with every `{param}` filled by `value` (percent-encoded). */
export function fillPath(path: string, value: string = PLACEHOLDER_ID): string {
  return path.replace(/\{[^}]+\}/g, () => encodeURIComponent(value));
}

/**
 * Every route of the app: the documented ones, plus routes left out of the document (catch-alls
 * that only answer 404) taken from the route table with their declared permissions.
 */
export async function allRoutes(app: FastifyInstance): Promise<DocumentedRoute[]> {
  const documented = await documentedRoutes(app);
  const seen = new Set(documented.map((route) => `${route.method} ${route.path}`));
  for (const route of app.routeTable) {
    const path = route.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    if (route.url === '/api/openapi.json' || seen.has(`${route.method} ${path}`)) continue;
    documented.push({ method: route.method, path, permissions: route.public ? 'public' : [...route.permissions], operation: {} });
  }
  return documented;
}
