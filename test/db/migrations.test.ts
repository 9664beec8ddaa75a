import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { appliedMigrations, migrateDown, migrateToLatest } from '../../src/db/migrate.js';
import { MIGRATIONS } from '../../src/db/migrations/index.js';
import { createTestStorage, testBackends, type TestStorage } from '../helpers/backends.js';

const cleanups: TestStorage[] = [];
afterAll(async () => {
  for (const storage of cleanups) await storage.cleanup();
});

describe.each(testBackends())('migrations on %s', (backend) => {
  it('apply every migration, revert them all, and apply them again', async () => {
    const storage = await createTestStorage(backend);
    cleanups.push(storage);
    const database = await openDatabase(storage);
    try {
      const applied = await migrateToLatest(database);
      expect(applied).toEqual(MIGRATIONS.map(([name]) => `Up ${name}`));
      expect(await migrateToLatest(database)).toEqual([]);
      await database.db.insertInto('meta').values({ key: 'k', value: 'v' }).execute();
      const reverted = await migrateDown(database);
      expect(reverted).toEqual(MIGRATIONS.map(([name]) => `Down ${name}`).reverse());
      expect(await appliedMigrations(database)).toEqual([]);
      const tables = await database.db.introspection.getTables();
      expect(tables.filter((table) => table.schema === (database.schema ?? table.schema) && !table.name.startsWith('kysely_')).map((table) => table.name)).toEqual([]);
      await migrateToLatest(database);
      expect(await appliedMigrations(database)).toEqual(MIGRATIONS.map(([name]) => name));
    } finally {
      await database.close();
    }
  });
});

describe.runIf(testBackends().includes('postgres'))('concurrent migrate on PostgreSQL', () => {
  it('two `privgate migrate` processes at once leave one consistent schema', async () => {
    const storage = await createTestStorage('postgres');
    cleanups.push(storage);
    const cli = path.resolve('dist/cli/index.js');
    const run = () =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [cli, 'migrate', '--database-url', storage.databaseUrl ?? '', '--database-schema', storage.databaseSchema ?? ''], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const results = await Promise.all([run(), run(), run()]);
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const ran = results.map((result) => (JSON.parse(result.stdout) as { ran: string[] }).ran.length);
    // Exactly one process did the work; the others found the schema current.
    expect(ran.filter((count) => count > 0)).toEqual([MIGRATIONS.length]);
    const database = await openDatabase(storage);
    try {
      expect(await appliedMigrations(database)).toEqual(MIGRATIONS.map(([name]) => name));
    } finally {
      await database.close();
    }
  });
});

describe.each(testBackends())('0014_host_fields on %s', (backend) => {
  it('backfills host_attributes from the documents of hosts stored before it', async () => {
    const storage = await createTestStorage(backend);
    cleanups.push(storage);
    const database = await openDatabase(storage);
    try {
      await migrateToLatest(database);
      const index = MIGRATIONS.findIndex(([name]) => name === '0014_host_fields');
      await migrateDown(database, (MIGRATIONS[index - 1] as readonly [string, unknown])[0]);
      const document = {
        common_name: 'old.example.com',
        zone: 'zone-old',
        scope: ['a', 'b'],
        deployable: true,
        disabled: 'FALSE',
        distinguished_name: 'x'.repeat(3000),
        services: [{ service: 'SSH', address: '10.0.0.1', port: 22 }],
        principals: [{ principal: 'root', roles: [{ id: 'role-1', name: 'one' }] }],
        addresses: [],
        tags: [],
      };
      const at = '2031-01-01T00:00:00.000Z';
      await database.db
        .insertInto('hosts')
        .values({ id: 'old-host', name: '', common_name: 'old.example.com', external_id: '', disabled: 'FALSE', search_text: '', document: JSON.stringify(document), created: at, updated: at, updated_by: 'test', author: 'test' })
        .execute();
      await migrateToLatest(database);
      const rows = await database.db.selectFrom('host_attributes').select(['field', 'value']).where('host_id', '=', 'old-host').orderBy('field').orderBy('value').execute();
      // The over-long distinguished name is left out of the index (b-tree key size), not an error.
      expect(rows).toEqual([
        { field: 'deployable', value: 'true' },
        { field: 'disabled', value: 'FALSE' },
        { field: 'port', value: '22' },
        { field: 'role', value: 'role-1' },
        { field: 'scope', value: 'a' },
        { field: 'scope', value: 'b' },
        { field: 'zone', value: 'zone-old' },
      ]);
    } finally {
      await database.close();
    }
  });
});
