/**
 * `privgate api-client create` (the built CLI, as the README runs it): it refuses a data
 * directory or PostgreSQL schema that holds no initialised privgate database instead of silently
 * making a new one the running server never reads, and `--out FILE` writes the credentials with
 * mode 0600.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStorage, testBackends, type TestStorage } from '../helpers/backends.js';

function privgate(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [path.resolve('dist/cli/index.js'), ...args], { encoding: 'utf8', env: { ...process.env, DATABASE_URL: '', PRIVGATE_DATA_DIR: '' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function storageArgs(storage: TestStorage): string[] {
  return storage.databaseUrl ? ['--database-url', storage.databaseUrl, '--database-schema', storage.databaseSchema!] : ['--data-dir', storage.dataDir];
}

beforeAll(() => {
  if (!fs.existsSync(path.resolve('dist/cli/index.js'))) throw new Error('run `npm run build` first');
});

describe('api-client create on SQLite: a data directory without a database', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-cli-'));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('refuses a data directory that does not exist, naming the path, and creates nothing', () => {
    const missing = path.join(scratch, 'no-such-dir');
    const result = privgate(['api-client', 'create', '--name', 'x', '--role', 'privx-admin', '--data-dir', missing]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`no privgate database at ${path.join(missing, 'privgate.db')}`);
    expect(fs.existsSync(missing)).toBe(false);
  });

  it('refuses an existing directory without privgate.db (e.g. the wrong one), leaving it empty', () => {
    const empty = path.join(scratch, 'empty');
    fs.mkdirSync(empty);
    const result = privgate(['api-client', 'create', '--name', 'x', '--data-dir', empty]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('no privgate database at');
    expect(fs.readdirSync(empty)).toEqual([]);
  });

  it('refuses a privgate.db whose migrations were never applied (or all reverted)', () => {
    const dir = path.join(scratch, 'reverted');
    expect(privgate(['migrate', '--data-dir', dir]).status).toBe(0);
    expect(privgate(['migrate', '--down', '--data-dir', dir]).status).toBe(0);
    const result = privgate(['api-client', 'create', '--name', 'x', '--data-dir', dir]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`no privgate database at ${path.join(dir, 'privgate.db')}`);
  });
});

describe.each(testBackends())('api-client create on %s', (backend) => {
  let storage: TestStorage;
  beforeAll(async () => {
    storage = await createTestStorage(backend);
  });
  afterAll(() => storage.cleanup());

  it('refuses a database that was never migrated, naming where it looked (without a password)', () => {
    const result = privgate(['api-client', 'create', '--name', 'early', ...storageArgs(storage)]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('no privgate database at');
    if (backend === 'postgres') {
      expect(result.stderr).toContain(`schema "${storage.databaseSchema}"`);
      expect(result.stderr).not.toMatch(/postgres:\/\/[^@\s]*:[^@\s]*@/);
    }
  });

  it('creates the client once the database is initialised; --out writes it with mode 0600', () => {
    expect(privgate(['migrate', ...storageArgs(storage)]).status).toBe(0);
    const printed = privgate(['api-client', 'create', '--name', 'printed', '--role', 'privx-admin', ...storageArgs(storage)]);
    expect(printed.status, printed.stderr).toBe(0);
    expect(Object.keys(JSON.parse(printed.stdout) as object).sort()).toEqual(['id', 'oauth_client_id', 'oauth_client_secret', 'secret']);

    const file = path.join(storage.dataDir, 'admin.json');
    // Even over an existing file with a wider mode.
    fs.writeFileSync(file, 'old', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    const written = privgate(['api-client', 'create', '--name', 'to-file', '--role', 'privx-admin', '--out', file, ...storageArgs(storage)]);
    expect(written.status, written.stderr).toBe(0);
    expect(written.stdout).toBe('');
    expect(written.stderr).toContain(`credentials written to ${file} (mode 0600)`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const credentials = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>;
    expect(credentials.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(written.stderr).not.toContain(credentials.secret!);
  });

  it('--out into a directory that does not exist fails before creating anything', () => {
    const result = privgate(['api-client', 'create', '--name', 'never', '--out', path.join(storage.dataDir, 'nope', 'x.json'), ...storageArgs(storage)]);
    expect(result.status).toBe(1);
    // The name is still free: the client was not created.
    expect(privgate(['api-client', 'create', '--name', 'never', ...storageArgs(storage)]).status).toBe(0);
  });
});
