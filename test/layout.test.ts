/**
 * Where things live in src/, as ARCHITECTURE.md lays it out: repositories own all SQL (a query is
 * built only in a file named `*repository.ts`, under `src/db/`, or in the fast path's own folder),
 * and no module imports itself back through others. Static scans of the sources; a query written
 * in a handler, a grant or the CLI, or an import cycle, fails here before review.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '../src');

/** Every .ts file under src/, as a path relative to src/ with forward slashes. */
const FILES = (fs.readdirSync(SRC, { recursive: true, encoding: 'utf8' }) as string[])
  .filter((name) => name.endsWith('.ts'))
  .map((name) => name.split(path.sep).join('/'))
  .sort();

const read = (file: string) => fs.readFileSync(path.join(SRC, file), 'utf8');

/** Kysely query builders and raw SQL (sql`…`, sql<T>`…`, sql.table/ref/raw/…). */
const SQL = /\.(selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto|selectNoFrom)\(|\bsql(<[^>]*>)?`|\bsql\.(raw|ref|table|id|lit|join|val)\(/;

/** Where SQL may be written. */
function mayHoldSql(file: string): boolean {
  return file.endsWith('repository.ts') || file.startsWith('db/') || file.startsWith('fast-path/');
}

/**
 * The modules a file imports statically (import/export … from, side-effect imports), resolved to
 * paths relative to src/. Dynamic `import()` is left out: it runs at call time, so it closes no
 * cycle at load time (the CLI loads its commands that way).
 */
function importsOf(file: string): string[] {
  const text = read(file);
  const specifiers = [
    ...[...text.matchAll(/^\s*(?:import|export)\s+(?:type\s+)?[\s\S]*?\s+from\s+'([^']+)'/gm)].map((match) => match[1]!),
    ...[...text.matchAll(/^\s*import\s+'([^']+)'/gm)].map((match) => match[1]!),
  ];
  const targets: string[] = [];
  for (const specifier of specifiers) {
    if (!specifier.startsWith('.')) continue;
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
    if (FILES.includes(resolved)) targets.push(resolved);
  }
  return targets;
}

/** One import cycle per strongly connected part of the graph (as a path that comes back to its start), if any. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

describe('src layout', () => {
  it('finds the sources it scans', () => {
    expect(FILES).toContain('app.ts');
    expect(FILES).toContain('services/auth/repository.ts');
  });

  it('SQL is written only in *repository.ts files, under src/db/ and under src/fast-path/', () => {
    const withSql = FILES.filter((file) => !mayHoldSql(file) && SQL.test(read(file)));
    expect(withSql).toEqual([]);
  });

  it('the SQL pattern sees builders and raw SQL, and not their names in prose', () => {
    for (const source of ["db.selectFrom('users')", 'trx\n    .insertInto(', 'sql`select 1`', 'sql<number>`x`', 'sql.table(name)', 'sql.ref(column)']) expect(source).toMatch(SQL);
    for (const source of ['a transaction().execute(work)', '// selectFrom is Kysely', 'mysql`', 'const sqlite = 1']) expect(source).not.toMatch(SQL);
  });

  it('no import cycles between modules of src/', () => {
    const graph = new Map(FILES.map((file) => [file, importsOf(file)]));
    expect(findCycles(graph).map((cycle) => cycle.join(' > '))).toEqual([]);
  });

  it('the cycle finder finds a cycle, and none in a tree', () => {
    expect(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual([['a', 'b', 'c', 'a']]);
    expect(findCycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]]))).toEqual([]);
  });
});
