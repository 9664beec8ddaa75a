import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, preparedQuery, type Database } from '../../src/db/index.js';
import { committedDataVersion } from '../../src/fast-path/sync-reader.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createTestStorage, testBackends, type TestStorage } from '../helpers/backends.js';

const revocations = preparedQuery((db, first: string, second: string) =>
  db.selectFrom('token_revocations').select(['key', 'issued_before']).where('key', 'in', [first, second]).orderBy('key'),
);
const twice = preparedQuery((db, key: string) =>
  db.selectFrom('token_revocations').select('key').where((eb) => eb.or([eb('key', '=', key), eb('expires', '=', key)])),
);
const withConstant = preparedQuery((db, key: string) => db.selectFrom('token_revocations').select('key').where('key', '=', key).where('expires', '>', '2000-01-01'));

describe.each(testBackends())('preparedQuery on %s', (backend) => {
  let storage: TestStorage;
  let database: Database;

  beforeAll(async () => {
    storage = await createTestStorage(backend);
    database = await openDatabase(storage);
    await migrateToLatest(database);
    await database.db
      .insertInto('token_revocations')
      .values([
        { key: 'a', issued_before: null, expires: '2999-01-01T00:00:00.000Z' },
        { key: 'b', issued_before: '2020-01-01T00:00:00.000Z', expires: '2999-01-01T00:00:00.000Z' },
        { key: 'c', issued_before: null, expires: '1999-01-01T00:00:00.000Z' },
      ])
      .execute();
  });
  afterAll(async () => {
    await database?.close();
    await storage?.cleanup();
  });

  it('runs the once-compiled statement with each call’s own parameters', async () => {
    expect(await revocations(database.db, 'a', 'b')).toEqual([
      { key: 'a', issued_before: null },
      { key: 'b', issued_before: '2020-01-01T00:00:00.000Z' },
    ]);
    expect(await revocations(database.db, 'b', 'zzz')).toEqual([{ key: 'b', issued_before: '2020-01-01T00:00:00.000Z' }]);
    expect(await revocations(database.db, 'x', 'y')).toEqual([]);
    // Values that look like SQL stay values.
    expect(await revocations(database.db, "a' or '1'='1", 'b')).toEqual([{ key: 'b', issued_before: '2020-01-01T00:00:00.000Z' }]);
  });

  it('substitutes a parameter used more than once, and keeps constants written into the query', async () => {
    expect(await twice(database.db, 'c')).toEqual([{ key: 'c' }]);
    expect(await withConstant(database.db, 'a')).toEqual([{ key: 'a' }]);
    expect(await withConstant(database.db, 'c')).toEqual([]);
  });

  it('runs inside a transaction on the transaction’s connection', async () => {
    await database.db.transaction().execute(async (trx) => {
      await trx.insertInto('token_revocations').values({ key: 'in-trx', issued_before: null, expires: '2999-01-01T00:00:00.000Z' }).execute();
      expect(await revocations(trx, 'in-trx', 'none')).toEqual([{ key: 'in-trx', issued_before: null }]);
    });
  });

  it('answers a top-level read with the committed state only, never another transaction’s uncommitted write', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inserted!: () => void;
    const insertedYet = new Promise<void>((resolve) => (inserted = resolve));
    const transaction = database.db.transaction().execute(async (trx) => {
      await trx.insertInto('token_revocations').values({ key: 'uncommitted', issued_before: null, expires: '2999-01-01T00:00:00.000Z' }).execute();
      inserted();
      await held;
    });
    await insertedYet;
    // Neither database makes this read wait for the open transaction (SQLite: the read connection).
    expect(await revocations(database.db, 'uncommitted', 'none')).toEqual([]);
    release();
    await transaction;
    expect(await revocations(database.db, 'uncommitted', 'none')).toEqual([{ key: 'uncommitted', issued_before: null }]);
    await database.db.deleteFrom('token_revocations').where('key', '=', 'uncommitted').execute();
  });

  it('reads without waiting on SQLite’s read connection, and defers to an awaited query elsewhere', async () => {
    const now = revocations.now(database.db, 'a', 'none');
    let inTransaction: unknown = 'not run';
    await database.db.transaction().execute(async (trx) => {
      inTransaction = revocations.now(trx, 'a', 'none');
    });
    if (backend === 'sqlite') expect(now).toEqual([{ key: 'a', issued_before: null }]);
    else expect(now).toBeUndefined();
    expect(inTransaction).toBeUndefined();
  });

  it('refuses a builder that does not use a parameter as a query value', async () => {
    const broken = preparedQuery((db, _unused: string) => db.selectFrom('token_revocations').select('key'));
    await expect(broken(database.db, 'a')).rejects.toThrow(/parameter 0/);
  });

  it('committedDataVersion stays while nothing commits and changes after a commit by this process’s writer or another connection (SQLite only)', async () => {
    const first = committedDataVersion(database.db);
    if (backend === 'postgres') {
      expect(first).toBeUndefined();
      return;
    }
    expect(first).toBeTypeOf('number');
    await revocations(database.db, 'a', 'b');
    expect(committedDataVersion(database.db)).toBe(first);
    await database.db.insertInto('token_revocations').values({ key: 'dv-1', issued_before: null, expires: '2999-01-01T00:00:00.000Z' }).execute();
    const afterOwnWrite = committedDataVersion(database.db);
    expect(afterOwnWrite).not.toBe(first);
    const other = await openDatabase(storage);
    try {
      await other.db.deleteFrom('token_revocations').where('key', '=', 'dv-1').execute();
    } finally {
      await other.close();
    }
    expect(committedDataVersion(database.db)).not.toBe(afterOwnWrite);
    await database.db.transaction().execute(async (trx) => expect(committedDataVersion(trx)).toBeUndefined());
  });

  it('committedDataVersion sees every commit of a burst, and the first commit after a checkpoint that empties the WAL (SQLite only)', async () => {
    if (backend === 'postgres') return;
    const seen = new Set<number | undefined>([committedDataVersion(database.db)]);
    for (let index = 0; index < 5; index += 1) {
      await database.db.insertInto('token_revocations').values({ key: `burst-${index}`, issued_before: null, expires: '2999-01-01T00:00:00.000Z' }).execute();
      const version = committedDataVersion(database.db);
      expect(seen.has(version)).toBe(false);
      seen.add(version);
      expect(committedDataVersion(database.db)).toBe(version);
    }
    const other = new BetterSqlite3(path.join(storage.dataDir, 'privgate.db'));
    try {
      // Restarts the WAL: the WAL index header is rewritten and its frame count drops to zero.
      expect(other.pragma('wal_checkpoint(TRUNCATE)', { simple: true })).toBe(0);
      const afterCheckpoint = committedDataVersion(database.db);
      expect(committedDataVersion(database.db)).toBe(afterCheckpoint);
      other.prepare('delete from token_revocations where key like ?').run('burst-%');
      expect(committedDataVersion(database.db)).not.toBe(afterCheckpoint);
    } finally {
      other.close();
    }
    expect(await database.db.selectFrom('token_revocations').select('key').where('key', 'like', 'burst-%').execute()).toEqual([]);
  });
});
