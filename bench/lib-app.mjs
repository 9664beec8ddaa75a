// An in-process privgate app for benchmarks that measure with app.inject (no sockets): the real
// buildApp on a fresh SQLite file or a fresh PostgreSQL schema, an admin API client and its token.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import pg from 'pg';
import { buildApp } from '../dist/app.js';
import { loadConfig } from '../dist/config.js';
import { createApiClient } from '../dist/services/local-user-store/api-client-repository.js';
import { ADMIN_ROLE_ID } from '../dist/services/role-store/permissions.js';

export const POSTGRES_URL = process.env.PRIVGATE_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Whether the benchmark PostgreSQL answers (the PostgreSQL legs are skipped, and said so, when not). */
export async function postgresAvailable(url = POSTGRES_URL) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Builds the app on `backend` ('sqlite' | 'postgres'). `close()` closes it, removes the data
 * directory and drops the PostgreSQL schema.
 */
export async function createBenchApp(backend, { env = {} } = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-bench-scale-'));
  const schema = backend === 'postgres' ? `bench_${crypto.randomBytes(6).toString('hex')}` : undefined;
  const config = loadConfig(
    { dataDir, insecureHttp: true, logLevel: 'warn', listen: '127.0.0.1:0', ...(backend === 'postgres' ? { databaseUrl: POSTGRES_URL, databaseSchema: schema } : {}) },
    { PRIVGATE_ADMIN_PASSWORD: 'bench-admin-password', ...env },
  );
  const app = await buildApp(config);
  const { db } = app.context.database;
  const credentials = await createApiClient(db, app.context, { name: `bench-admin-${Date.now()}`, roles: [{ id: ADMIN_ROLE_ID }] }, 'bench', new Date());
  const grant = await app.inject({
    method: 'POST',
    url: '/auth/api/v1/oauth/token',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${credentials.oauth_client_id}:${credentials.oauth_client_secret}`).toString('base64')}`,
    },
    payload: new URLSearchParams({ grant_type: 'password', username: credentials.id, password: credentials.secret }).toString(),
  });
  if (grant.statusCode !== 200) throw new Error(`password grant failed: ${grant.statusCode} ${grant.body}`);
  const token = grant.json().access_token;
  return {
    app,
    db,
    dialect: app.context.database.dialect,
    schema,
    token,
    credentials,
    async close() {
      await app.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (schema) {
        const client = new pg.Client({ connectionString: POSTGRES_URL });
        await client.connect();
        try {
          await client.query(`drop schema if exists "${schema}" cascade`);
        } finally {
          await client.end();
        }
      }
    },
  };
}

/** The p-th percentile (0..100) of sorted numbers, nearest rank. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

v8.setFlagsFromString('--expose-gc');
/** A full garbage collection on demand (the flag set at run time, so no node option is needed). */
export const collectGarbage = vm.runInNewContext('gc');

/**
 * Runs `count` requests one after another (after `warmup` unmeasured ones), each built by
 * `requestFor(i)`, through app.inject; every answer must have status `expect`. Latencies in ms.
 * A full GC runs before the measured requests, so whether a major collection of garbage left by
 * earlier work lands in the window does not decide the p99 (300 requests never need one).
 */
export async function injectSequential(app, requestFor, { count = 300, warmup = 30, expect = 200, check } = {}) {
  const latencies = [];
  for (let index = -warmup; index < count; index += 1) {
    if (index === 0) collectGarbage();
    const request = requestFor(index < 0 ? index + warmup : index);
    const started = performance.now();
    const response = await app.inject(request);
    const elapsed = performance.now() - started;
    if (response.statusCode !== expect) throw new Error(`${request.method ?? 'GET'} ${request.url}: ${response.statusCode} ${response.body.slice(0, 300)}`);
    if (check) check(response, index);
    if (index >= 0) latencies.push(elapsed);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1], count: latencies.length };
}

/**
 * Like {@link injectSequential} for several targets ({app, request(i), check?}) compared with
 * each other: `count` requests per target, sent one at a time in `rounds` rounds that visit the
 * targets in turn (A B C, C B A, …), so a GC pause or a burst of background load falls on every
 * target alike instead of on whichever happened to be measured then. Returns one result per target.
 */
export async function injectInterleaved(targets, { count = 300, rounds = 6, warmup = 30, expect = 200 } = {}) {
  const send = async (target, index) => {
    const request = target.request(index);
    const started = performance.now();
    const response = await target.app.inject(request);
    const elapsed = performance.now() - started;
    if (response.statusCode !== expect) throw new Error(`${request.method ?? 'GET'} ${request.url}: ${response.statusCode} ${response.body.slice(0, 300)}`);
    if (target.check) target.check(response, index);
    return elapsed;
  };
  for (const target of targets) for (let index = 0; index < warmup; index += 1) await send(target, index);
  collectGarbage();
  const latencies = targets.map(() => []);
  const perRound = Math.ceil(count / rounds);
  for (let round = 0; round < rounds; round += 1) {
    const order = targets.map((_, index) => (round % 2 === 0 ? index : targets.length - 1 - index));
    for (const which of order) {
      for (let step = 0; step < perRound && latencies[which].length < count; step += 1) {
        latencies[which].push(await send(targets[which], warmup + latencies[which].length));
      }
    }
  }
  return latencies.map((values) => {
    values.sort((a, b) => a - b);
    return { p50: percentile(values, 50), p99: percentile(values, 99), max: values[values.length - 1], count: values.length };
  });
}

/** Milliseconds with two decimals, as text. */
export function ms(value) {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}
