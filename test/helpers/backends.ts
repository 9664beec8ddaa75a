import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export type Backend = 'sqlite' | 'postgres';

/**
 * Backends the API suite runs on: SQLite always, PostgreSQL when PRIVGATE_TEST_DATABASE_URL is
 * set. PRIVGATE_TEST_BACKENDS (comma list) narrows it, so CI's PostgreSQL leg does not repeat
 * the SQLite runs.
 */
export function testBackends(): Backend[] {
  const available: Backend[] = ['sqlite'];
  if (process.env.PRIVGATE_TEST_DATABASE_URL) available.push('postgres');
  const only = process.env.PRIVGATE_TEST_BACKENDS?.split(',').map((value) => value.trim());
  return only ? available.filter((backend) => only.includes(backend)) : available;
}

export interface TestStorage {
  backend: Backend;
  dataDir: string;
  databaseUrl: string | undefined;
  databaseSchema: string | undefined;
  /** Removes the temporary directory and (PostgreSQL) drops the schema. */
  cleanup(): Promise<void>;
}

/** A fresh, isolated place to keep data: a temp dir, plus its own PostgreSQL schema. */
export async function createTestStorage(backend: Backend): Promise<TestStorage> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-test-'));
  const databaseUrl = backend === 'postgres' ? process.env.PRIVGATE_TEST_DATABASE_URL : undefined;
  if (backend === 'postgres' && !databaseUrl) throw new Error('PRIVGATE_TEST_DATABASE_URL is not set');
  const databaseSchema = backend === 'postgres' ? `t_${crypto.randomBytes(8).toString('hex')}` : undefined;
  return {
    backend,
    dataDir,
    databaseUrl,
    databaseSchema,
    async cleanup() {
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (databaseUrl && databaseSchema) {
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        try {
          await client.query(`drop schema if exists "${databaseSchema}" cascade`);
        } finally {
          await client.end();
        }
      }
    },
  };
}
