#!/usr/bin/env node
// Which of the PrivX Go SDK's method → endpoint pairs privgate serves. The pairs come from the
// SDK's sources (PRIVX_SDK_GO_DIR, every `URL("…")` call in api/<package>/*.go with the HTTP
// method it is sent with); privgate's routes from the OpenAPI document of a throwaway
// `privgate serve` (build first: `npm run build`). Prints "served N/M" per SDK package and in
// total, and with --missing the pairs not served.
import fs from 'node:fs';
import { goEndpoints, matchEndpoint, normaliseTemplate } from './compat-endpoints.mjs';
import { httpsGet, startServer } from './compat-server.mjs';

const sdkDir = process.env.PRIVX_SDK_GO_DIR;
if (!sdkDir || !fs.existsSync(sdkDir)) {
  process.stdout.write(`skipping the coverage report: PRIVX_SDK_GO_DIR is ${sdkDir ? `${sdkDir}, which does not exist` : 'not set'}\n`);
  process.exit(0);
}
const showMissing = process.argv.includes('--missing');

const server = await startServer({ withClient: false });
let document;
try {
  const response = await httpsGet(`${server.url}/api/openapi.json`, server.ca);
  if (response.status !== 200) throw new Error(`GET /api/openapi.json answered ${response.status}`);
  document = JSON.parse(response.body);
} finally {
  await server.stop();
}
const served = new Set();
for (const [routePath, operations] of Object.entries(document.paths)) {
  for (const method of Object.keys(operations)) served.add(`${method.toUpperCase()} ${normaliseTemplate(routePath)}`);
}

// The api/ packages are the SDK's service clients; oauth (token requests) is counted apart.
const endpoints = goEndpoints(sdkDir);
// A route privgate declares per value of an SDK path parameter (settings: one per scope and
// section) serves the SDK's template too.
for (const [routePath, operations] of Object.entries(document.paths)) {
  if (routePath.includes('{')) continue;
  for (const method of Object.keys(operations)) {
    const endpoint = matchEndpoint(endpoints, method.toUpperCase(), routePath);
    if (endpoint) served.add(`${endpoint.method} ${endpoint.template}`);
  }
}
const byPackage = new Map();
for (const endpoint of endpoints) {
  const list = byPackage.get(endpoint.pkg) ?? [];
  list.push(endpoint);
  byPackage.set(endpoint.pkg, list);
}
let total = 0;
let totalServed = 0;
const width = Math.max(...[...byPackage.keys()].map((name) => name.length));
for (const [pkg, list] of [...byPackage].sort((a, b) => a[0].localeCompare(b[0]))) {
  const ok = list.filter((endpoint) => served.has(`${endpoint.method} ${endpoint.template}`));
  const note = pkg === 'oauth' ? '  (not in the total: token requests, not a service client)' : '';
  process.stdout.write(`go ${pkg.padEnd(width)}  served ${ok.length}/${list.length}${note}\n`);
  if (showMissing) {
    for (const endpoint of list.filter((item) => !ok.includes(item))) process.stdout.write(`    missing: ${endpoint.fn}: ${endpoint.method} ${endpoint.template}\n`);
  }
  if (pkg === 'oauth') continue;
  total += list.length;
  totalServed += ok.length;
}
process.stdout.write(`go SDK (api/*) total: served ${totalServed}/${total} method → endpoint pairs (privgate documents ${served.size} operations)\n`);
