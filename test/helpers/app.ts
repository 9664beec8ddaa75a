import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Clock } from '../../src/lib/time.js';
import { DEFAULT_SERVICE_OPTIONS, type ServiceOptions } from '../../src/lib/service-options.js';
import { createApiClient } from '../../src/services/local-user-store/api-client-repository.js';
import { createRole } from '../../src/services/role-store/repository.js';
import { ADMIN_ROLE_ID } from '../../src/services/role-store/permissions.js';
import { createTestStorage, type Backend, type TestStorage } from './backends.js';

export const ADMIN_PASSWORD = 'correct horse battery staple';

export interface TestApp {
  app: FastifyInstance;
  storage: TestStorage;
  config: Config;
  /** Every log line the app wrote (for secrets-hygiene assertions). */
  logs: string[];
  close(): Promise<void>;
}

/** Builds a real app on a fresh database of `backend`; requests go through `app.inject`. */
export async function createTestApp(
  backend: Backend,
  options: { clock?: Clock; env?: Record<string, string>; storage?: TestStorage; housekeepingIntervalMs?: number; auditExportIntervalMs?: number } = {},
): Promise<TestApp> {
  const storage = options.storage ?? (await createTestStorage(backend));
  const config = loadConfig(
    // The flag would override PRIVGATE_LOG_LEVEL: a test that sets the variable gets its level.
    { dataDir: storage.dataDir, databaseUrl: storage.databaseUrl, databaseSchema: storage.databaseSchema, insecureHttp: true, logLevel: options.env?.PRIVGATE_LOG_LEVEL ?? 'info', listen: '127.0.0.1:0' },
    { PRIVGATE_ADMIN_PASSWORD: ADMIN_PASSWORD, ...options.env },
  );
  const logs: string[] = [];
  const logStream = new PassThrough();
  logStream.on('data', (chunk: Buffer) => logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const app = await buildApp(config, {
    logStream,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.housekeepingIntervalMs ? { housekeepingIntervalMs: options.housekeepingIntervalMs } : {}),
    ...(options.auditExportIntervalMs ? { auditExportIntervalMs: options.auditExportIntervalMs } : {}),
  });
  return {
    app,
    storage,
    config,
    logs,
    async close() {
      await app.close();
      if (!options.storage) await storage.cleanup();
    },
  };
}

export interface ClientCredentials {
  id: string;
  secret: string;
  oauth_client_id: string;
  oauth_client_secret: string;
}

/** Form body + Basic header exactly as the PrivX Python SDK sends a password grant. */
export function passwordGrantRequest(credentials: ClientCredentials) {
  return {
    method: 'POST' as const,
    url: '/auth/api/v1/oauth/token',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${credentials.oauth_client_id}:${credentials.oauth_client_secret}`).toString('base64')}`,
    },
    payload: new URLSearchParams({ grant_type: 'password', username: credentials.id, password: credentials.secret }).toString(),
  };
}

let counter = 0;

/**
 * An API client holding `permissions` (or privx-admin with 'admin', or no role with []), and an
 * access token it got through the real password grant.
 */
export async function tokenWith(testApp: TestApp, permissions: string[] | 'admin'): Promise<{ token: string; credentials: ClientCredentials }> {
  const { app } = testApp;
  const db = app.context.database.db;
  const now = app.context.clock.now();
  counter += 1;
  let roles: Array<{ id: string }> = [];
  if (permissions === 'admin') roles = [{ id: ADMIN_ROLE_ID }];
  else if (permissions.length > 0) roles = [{ id: await createRole(db, { name: `test-role-${counter}-${Date.now()}`, permissions }, 'test', now) }];
  const credentials = await createApiClient(db, app.context, { name: `test-client-${counter}-${Date.now()}`, roles }, 'test', now);
  const response = await app.inject(passwordGrantRequest(credentials));
  if (response.statusCode !== 200) throw new Error(`password grant failed: ${response.statusCode} ${response.body}`);
  return { token: (response.json() as { access_token: string }).access_token, credentials };
}

/** A copy of the factory default service options with `change` applied. */
export function serviceOptionsWith(change: (options: ServiceOptions) => void = () => undefined): ServiceOptions {
  const copy = structuredClone(DEFAULT_SERVICE_OPTIONS) as ServiceOptions;
  change(copy);
  return copy;
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** Asserts the PrivX envelope shape and returns it. */
export function envelope(response: LightMyRequestResponse): { error_code: string; error_message: string; property?: string } {
  const body = response.json() as Record<string, unknown>;
  if (typeof body.error_code !== 'string' || typeof body.error_message !== 'string') throw new Error(`not an error envelope: ${response.body}`);
  for (const key of Object.keys(body)) {
    if (!['error_code', 'error_message', 'property', 'details'].includes(key)) throw new Error(`unexpected envelope key ${key}`);
  }
  if (/\n\s+at /.test(response.body)) throw new Error('stack trace in response body');
  return body as { error_code: string; error_message: string; property?: string };
}

/** Two nodes (two apps) on one database, built before the enclosing describe's tests and closed after them. */
export function twoNodesOnOneDatabase(backend: Backend): { readonly a: TestApp; readonly b: TestApp } {
  let storage: TestStorage | undefined;
  const nodes = {} as { a: TestApp; b: TestApp };
  beforeAll(async () => {
    storage = await createTestStorage(backend);
    nodes.a = await createTestApp(backend, { storage });
    nodes.b = await createTestApp(backend, { storage });
  });
  afterAll(async () => {
    await nodes.a?.close();
    await nodes.b?.close();
    await storage?.cleanup();
  });
  return nodes;
}
