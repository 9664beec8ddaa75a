import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { createQueryId, Kysely, PostgresDialect, SqliteDialect, sql, type Compilable, type CompiledQuery } from 'kysely';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import type { Tables } from './schema.js';
import { attachSyncReader, prepareOnSyncReader } from '../fast-path/sync-reader.js';

export type DialectName = 'sqlite' | 'postgres';

/** An open database: the Kysely handle plus which dialect sits behind it. */
export interface Database {
  readonly db: Kysely<Tables>;
  readonly dialect: DialectName;
  /** PostgreSQL schema in use (undefined for SQLite). */
  readonly schema: string | undefined;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** `postgres://…`; undefined = SQLite file `privgate.db` in `dataDir`. */
  databaseUrl: string | undefined;
  /** PostgreSQL schema (created when missing). */
  databaseSchema?: string | undefined;
  dataDir: string;
  /** Largest pool for PostgreSQL. */
  poolSize?: number;
  /**
   * SQLite: open the synchronous read connection of the fast path (src/fast-path/sync-reader.ts);
   * default true. False: every read goes through Kysely, as on PostgreSQL.
   */
  syncReads?: boolean;
}

// pg returns BIGINT (int8) and NUMERIC as strings; our counters fit in a JS number and are safe
// integers by construction, so parse them once here rather than at every call site.
pg.types.setTypeParser(20, (value: string) => Number(value));

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Opens the database the config names. The dialect differences of the whole code base live here:
 * every query elsewhere is written once against Kysely.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const schema = options.databaseSchema ?? 'public';
    if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid PostgreSQL schema name: ${schema}`);
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 10,
      options: `-c search_path=${schema}`,
    });
    // An idle client losing its server must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
    if (schema !== 'public') {
      // Nodes starting together race on this even with IF NOT EXISTS (a unique violation on the
      // catalogue); whoever loses finds the schema there, which is all we need.
      await sql`create schema if not exists ${sql.id(schema)}`.execute(db).catch((error: unknown) => {
        const code = (error as { code?: unknown }).code;
        if (code !== '23505' && code !== '42P06') throw error;
      });
    }
    return { db, dialect: 'postgres', schema, close: () => db.destroy() };
  }
  fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(options.dataDir, 'privgate.db');
  const sqlite = new BetterSqlite3(file);
  sqlite.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit is in the WAL file (the OS page cache) before the write returns, so
  // an acknowledged write survives a killed process; only a power cut may lose the last commits.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  // A second process (the CLI while serve runs) waits for the write lock instead of failing.
  sqlite.pragma('busy_timeout = 10000');
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  const closeSyncReader = options.syncReads === false ? () => undefined : attachSyncReader(db, file);
  return {
    db,
    dialect: 'sqlite',
    schema: undefined,
    close: async () => {
      closeSyncReader();
      await db.destroy();
    },
  };
}

const STATEMENT_CACHE_SIZE = 500;

/**
 * better-sqlite3 with prepared statements reused by SQL text. Kysely prepares every query
 * afresh, which costs more than running it; our queries are few distinct texts with bound
 * parameters, so a small cache removes that cost. Safe because Kysely runs each statement to
 * completion synchronously (no streaming here), so no cached statement is ever mid-iteration —
 * which is also why evicting one (least recently used first) is safe at any time. A statement
 * never goes stale, so the cache has a bound on its size and no ttl. (Exported for its test.)
 */
export function withStatementCache(sqlite: BetterSqlite3.Database, size: number = STATEMENT_CACHE_SIZE): BetterSqlite3.Database {
  const cache = new LRUCache<string, BetterSqlite3.Statement>({ max: size });
  const prepare = sqlite.prepare.bind(sqlite);
  return new Proxy(sqlite, {
    get(target, property, receiver) {
      if (property !== 'prepare') return Reflect.get(target, property, receiver) as unknown;
      return (source: string) => {
        let statement = cache.get(source);
        if (!statement) {
          statement = prepare(source);
          cache.set(source, statement);
        }
        return statement;
      };
    },
  });
}

/** A query compiled once per database handle; see {@link preparedQuery}. */
export interface PreparedQuery<Params extends readonly unknown[], Row> {
  (db: Kysely<Tables>, ...params: Params): Promise<Row[]>;
  /**
   * The rows without waiting, where that is possible: on SQLite's read connection for a top-level
   * handle (not a transaction's). Undefined on PostgreSQL or inside a transaction, where the caller
   * awaits the query instead.
   */
  now(db: Kysely<Tables>, ...params: Params): Row[] | undefined;
}

/**
 * A query built and compiled once per database handle, then run with fresh parameter values: it
 * skips Kysely's per-call query building and SQL compilation, which on the hot paths (token
 * checks, the token endpoint) costs more than SQLite running the statement.
 *
 * `build` receives placeholder values for the parameters and must use each of them (once or more)
 * as a plain value — a comparison operand, an inserted value… — never in JavaScript logic; the
 * first call checks that every one reached the compiled parameters and throws otherwise. The SQL
 * is produced by the dialect in use, so the query is still written once for both databases, and a
 * transaction handle gets its own compilation (it runs on the transaction's connection).
 *
 * On SQLite a read-only statement run on the top-level handle goes to the read connection (the
 * committed state, synchronously); anything else goes through Kysely.
 */
export function preparedQuery<Params extends readonly unknown[], Row>(
  build: (db: Kysely<Tables>, ...params: Params) => Compilable<Row>,
): PreparedQuery<Params, Row> {
  interface Entry {
    query: CompiledQuery<Row>;
    slots: number[];
    /** The statement on the SQLite read connection; null when the query is not a read or there is none. */
    statement: BetterSqlite3.Statement | null | undefined;
  }
  const compiled = new WeakMap<Kysely<Tables>, Entry>();
  const entryFor = (db: Kysely<Tables>, params: Params): Entry => {
    let entry = compiled.get(db);
    if (!entry) {
      const markers = params.map((_, index) => `\u0000privgate-parameter-${index}\u0000`);
      const query = build(db, ...(markers as unknown as Params)).compile();
      const slots = query.parameters.map((value) => markers.indexOf(value as string));
      markers.forEach((_, index) => {
        if (!slots.includes(index)) throw new Error(`preparedQuery: parameter ${index} is not used as a query value`);
      });
      entry = { query, slots, statement: undefined };
      compiled.set(db, entry);
    }
    return entry;
  };
  const parametersOf = (entry: Entry, params: Params): unknown[] =>
    entry.slots.map((slot, index) => (slot >= 0 ? params[slot] : entry.query.parameters[index]));
  const rowsNow = (db: Kysely<Tables>, entry: Entry, params: Params): Row[] | undefined => {
    if (entry.statement === undefined) {
      const statement = prepareOnSyncReader(db, entry.query.sql);
      // `reader` alone is also true of a write with RETURNING, which must go to the writer.
      entry.statement = statement?.reader && statement.readonly ? statement : null;
    }
    return entry.statement ? (entry.statement.all(parametersOf(entry, params)) as Row[]) : undefined;
  };
  const run = async (db: Kysely<Tables>, ...params: Params): Promise<Row[]> => {
    const entry = entryFor(db, params);
    const rows = rowsNow(db, entry, params);
    if (rows) return rows;
    const result = await db.executeQuery<Row>({ ...entry.query, parameters: parametersOf(entry, params), queryId: createQueryId() });
    return result.rows;
  };
  return Object.assign(run, { now: (db: Kysely<Tables>, ...params: Params) => rowsNow(db, entryFor(db, params), params) });
}

/** True when `error` is a unique-constraint violation on either database. */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True when `error` is a foreign-key violation on either database. */
export function isForeignKeyViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}
