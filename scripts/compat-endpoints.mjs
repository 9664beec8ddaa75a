// What the PrivX SDKs call: the method → endpoint pairs read from the SDK sources (the Go SDK's
// `URL("…").Get(…)` chains in api/<package>/*.go, the Python SDK's URL table in
// privx_api/enums.py), and matching of a concrete request path to those templates.
// Used by scripts/compat.mjs (to name the endpoints a scenario exercised) and
// scripts/compat-coverage.mjs (to see which of them privgate serves).
import fs from 'node:fs';
import path from 'node:path';

const HTTP_METHOD = { Get: 'GET', Fetch: 'GET', Download: 'GET', Status: 'GET', Post: 'POST', Put: 'PUT', Delete: 'DELETE', Patch: 'PATCH' };

/** `/a/%s/b` and `/a/{id}/b` both become `/a/{}/b` (no query, no trailing slash). */
export function normaliseTemplate(template) {
  const [pathPart] = template.split('?');
  const normalised = pathPart.replace(/%[svdq]/g, '{}').replace(/\{[^}]*\}/g, '{}');
  return normalised.length > 1 ? normalised.replace(/\/+$/, '') : normalised;
}

/**
 * Every SDK method that calls a literal URL, from the Go SDK's api/<package>/*.go (and the oauth
 * package): { pkg, fn, method, template } with the template normalised.
 */
export function goEndpoints(sdkDir) {
  const endpoints = [];
  const dirs = [];
  const apiDir = path.join(sdkDir, 'api');
  for (const entry of fs.readdirSync(apiDir, { withFileTypes: true })) if (entry.isDirectory()) dirs.push([entry.name, path.join(apiDir, entry.name)]);
  dirs.push(['oauth', path.join(sdkDir, 'oauth')]);
  for (const [pkg, dir] of dirs.sort((a, b) => a[0].localeCompare(b[0]))) {
    for (const file of fs.readdirSync(dir).filter((name) => name.endsWith('.go') && !name.endsWith('_test.go')).sort()) {
      const source = fs.readFileSync(path.join(dir, file), 'utf8');
      // One chunk per top-level function.
      const chunks = source.split(/^func /m).slice(1);
      for (const chunk of chunks) {
        const name = /^(?:\([^)]*\)\s*)?([A-Za-z0-9_]+)/.exec(chunk)?.[1] ?? '?';
        const urlCalls = [...chunk.matchAll(/URL\(\s*"([^"]+)"/g)];
        for (const [index, call] of urlCalls.entries()) {
          const end = index + 1 < urlCalls.length ? urlCalls[index + 1].index : chunk.length;
          const verb = /\.\s*(Get|Post|Put|Delete|Fetch|Download|Status|Patch)\(/.exec(chunk.slice(call.index, end))?.[1];
          if (!verb) continue;
          endpoints.push({ pkg, fn: name, method: HTTP_METHOD[verb], template: normaliseTemplate(call[1]) });
        }
      }
    }
  }
  return endpoints;
}

/**
 * The Python SDK's URL table (privx_api/enums.py): { pkg, template } — the module is named after
 * the service (role-store → role_store); the table has no methods.
 */
export function pythonEndpoints(sdkDir) {
  const source = fs.readFileSync(path.join(sdkDir, 'privx_api', 'enums.py'), 'utf8');
  const seen = new Set();
  const endpoints = [];
  for (const match of source.matchAll(/:\s*"(\/[a-z-]+\/api\/[^"]+)"/g)) {
    const template = normaliseTemplate(match[1]);
    if (seen.has(template)) continue;
    seen.add(template);
    endpoints.push({ pkg: pythonPackage(template), template });
  }
  return endpoints;
}

/** The Python SDK module that serves a path's service. */
export function pythonPackage(urlPath) {
  const service = urlPath.split('/')[1] ?? '';
  return service === 'local-user-store' ? 'user_store' : service.replace(/-/g, '_');
}

function templateRegExp(template) {
  const escaped = template
    .split('{}')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return new RegExp(`^${escaped}/?$`);
}

/**
 * The template a concrete request matches, preferring the most literal one (so
 * `/roles/resolve` wins over `/roles/{}`); `method` is ignored for templates without one.
 */
export function matchEndpoint(endpoints, method, urlPath) {
  let best;
  for (const endpoint of endpoints) {
    if (endpoint.method && endpoint.method !== method) continue;
    endpoint.regexp ??= templateRegExp(endpoint.template);
    if (!endpoint.regexp.test(urlPath)) continue;
    const params = endpoint.template.split('{}').length - 1;
    if (!best || params < best.params) best = { endpoint, params };
  }
  return best?.endpoint;
}

/** A path with its id-like segments replaced, for calls no SDK template matches. */
export function genericTemplate(urlPath) {
  return urlPath
    .split('/')
    .map((segment) => (/^[0-9a-f]{8}-[0-9a-f-]{27,}$/i.test(segment) || /^\d+$/.test(segment) ? '{}' : segment))
    .join('/');
}
