import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { withStatementCache } from '../../src/db/index.js';

describe('the prepared-statement cache (SQLite)', () => {
  let sqlite: BetterSqlite3.Database | undefined;
  afterEach(() => sqlite?.close());

  const open = (size: number): BetterSqlite3.Database => {
    sqlite = new BetterSqlite3(':memory:');
    return withStatementCache(sqlite, size);
  };

  it('hands out the same statement for the same SQL text', () => {
    const db = open(4);
    const first = db.prepare('SELECT 1 AS one');
    expect(db.prepare('SELECT 1 AS one')).toBe(first);
    expect(first.get()).toEqual({ one: 1 });
    expect(db.prepare('SELECT 2 AS two')).not.toBe(first);
  });

  it('evicts the least recently used statement, not the first prepared', () => {
    const db = open(3);
    const a = db.prepare('SELECT 1');
    const b = db.prepare('SELECT 2');
    const c = db.prepare('SELECT 3');
    // Using `a` again makes `b` the least recently used.
    expect(db.prepare('SELECT 1')).toBe(a);
    db.prepare('SELECT 4');
    expect(db.prepare('SELECT 1')).toBe(a);
    expect(db.prepare('SELECT 3')).toBe(c);
    const again = db.prepare('SELECT 2');
    expect(again).not.toBe(b);
    // An evicted statement is simply prepared afresh, and still works.
    expect(again.pluck().get()).toBe(2);
  });

  it('stays within its bound however many distinct statements run', () => {
    const db = open(8);
    const statements = Array.from({ length: 50 }, (_, index) => db.prepare(`SELECT ${index} AS n`));
    // The 8 most recently prepared are still the cached ones (checking them evicts nothing)…
    for (let index = 42; index < 50; index += 1) expect(db.prepare(`SELECT ${index} AS n`)).toBe(statements[index]);
    // …and the one before them is gone.
    expect(db.prepare('SELECT 41 AS n')).not.toBe(statements[41]);
  });
});
