import fs from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { Tables } from '../db/schema.js';

/**
 * SQLite only: a second, read-only connection to the same file whose statements run synchronously.
 * Kysely's single connection is shared by transactions that stay open across awaits, so a read on it
 * either waits its turn or — if run directly — would see another request's uncommitted writes. A
 * separate connection in WAL mode reads the last committed state without waiting and without
 * Kysely's promise chain, which on the hottest reads (settings, token checks) costs more than SQLite
 * running the statement.
 */
const syncReaders = new WeakMap<Kysely<Tables>, SyncReader>();

interface SyncReader {
  connection: BetterSqlite3.Database;
  dataVersion: BetterSqlite3.Statement<[], number>;
  /** Undefined when the file has no WAL index to look at (then every check asks SQLite). */
  walIndex: WalIndexWatch | undefined;
}

function openReader(file: string): SyncReader {
  const connection = new BetterSqlite3(file, { readonly: true });
  connection.pragma('busy_timeout = 10000');
  const dataVersion = connection.prepare<[], number>('PRAGMA data_version').pluck();
  // The first read maps the WAL index (`<file>-shm`), so it exists from here on while we are open.
  dataVersion.get();
  return { connection, dataVersion, walIndex: WalIndexWatch.open(`${file}-shm`) };
}

/**
 * Opens the read connection for the SQLite handle `db` on `file` (called by openDatabase); answers
 * the function that closes it again, which the database's close calls first.
 */
export function attachSyncReader(db: Kysely<Tables>, file: string): () => void {
  const reader = openReader(file);
  syncReaders.set(db, reader);
  return () => {
    syncReaders.delete(db);
    reader.walIndex?.close();
    reader.connection.close();
  };
}

/** `sql` prepared on `db`'s read connection; undefined when `db` has none (PostgreSQL, a transaction's handle). */
export function prepareOnSyncReader(db: Kysely<Tables>, sql: string): BetterSqlite3.Statement | undefined {
  return syncReaders.get(db)?.connection.prepare(sql);
}

/**
 * Watches the header of SQLite's WAL index (the `-shm` file every connection to a WAL database
 * maps; format: https://www.sqlite.org/walformat.html). A commit by any connection or process
 * rewrites that header — its change counter, frame count and checksums — before the commit
 * returns, so two equal reads of it mean nothing was committed in between. Reading it is one
 * `pread`; asking SQLite (`PRAGMA data_version`) takes and drops two file locks, which under load
 * cost several times more. The header is written as two 48-byte copies, the second first; a read
 * whose copies differ caught a writer mid-update and counts as a change.
 */
class WalIndexWatch {
  static readonly HEADER_BYTES = 96;
  readonly #fd: number;
  readonly #read = Buffer.alloc(WalIndexWatch.HEADER_BYTES);
  readonly #seen = Buffer.alloc(WalIndexWatch.HEADER_BYTES);
  /** The data version SQLite gave right after #seen was read; undefined when #seen is not valid. */
  #version: number | undefined;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  static open(path: string): WalIndexWatch | undefined {
    try {
      return new WalIndexWatch(fs.openSync(path, 'r'));
    } catch {
      return undefined;
    }
  }

  /** SQLite's data version, asked of `dataVersion` only when the header changed since it last was. */
  dataVersion(dataVersion: BetterSqlite3.Statement<[], number>): number {
    const read = fs.readSync(this.#fd, this.#read, 0, WalIndexWatch.HEADER_BYTES, 0);
    const whole = read === WalIndexWatch.HEADER_BYTES && this.#read.compare(this.#read, 48, 96, 0, 48) === 0;
    if (whole && this.#version !== undefined && this.#read.equals(this.#seen)) return this.#version;
    // Changed, caught mid-update, or the first look: ask SQLite. Asked after the header was read,
    // so any commit SQLite's answer misses rewrites the header again before the next look.
    const version = dataVersion.get() as number;
    this.#version = whole ? version : undefined;
    if (whole) this.#read.copy(this.#seen);
    return version;
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}

/** Whether reads on `db` can be answered without waiting (SQLite's read connection; not PostgreSQL, not a transaction). */
export function readsWithoutWaiting(db: Kysely<Tables>): boolean {
  return syncReaders.has(db);
}

/**
 * SQLite only: the read connection's `PRAGMA data_version`. SQLite changes it whenever another
 * connection — this process's writer, or another process on the same file — has committed since
 * the read connection last looked; equal answers mean nothing was committed in between. A value
 * read on the read connection after this was taken is therefore current for as long as the
 * answer stays the same, and checking costs a fraction of reading the row again (and, through
 * the WAL index header, a fraction of asking SQLite). Undefined on PostgreSQL and for a
 * transaction's handle.
 */
export function committedDataVersion(db: Kysely<Tables>): number | undefined {
  const reader = syncReaders.get(db);
  if (!reader) return undefined;
  return reader.walIndex ? reader.walIndex.dataVersion(reader.dataVersion) : reader.dataVersion.get();
}

/** Per SQLite handle and key: the value {@link sinceLastCommit} last read and the data version taken before it. */
const readSince = new WeakMap<Kysely<Tables>, Map<object, { dataVersion: number; value: unknown }>>();

/**
 * `read()` (a read on the read connection, see PreparedQuery.now), re-run only when something was
 * committed since it last ran for `key` on `db`, else its last value; undefined where the database
 * cannot answer without waiting (PostgreSQL, a transaction's handle, the fast path off) or when
 * `read` says so. The data version is taken before the read, so a commit landing between the two
 * only causes one more read, never a stale answer: a commit by any connection or process is seen
 * by the next call.
 */
export function sinceLastCommit<T>(db: Kysely<Tables>, key: object, read: () => T | undefined): T | undefined {
  const dataVersion = committedDataVersion(db);
  if (dataVersion === undefined) return undefined;
  let values = readSince.get(db);
  if (!values) readSince.set(db, (values = new Map()));
  const known = values.get(key);
  if (known?.dataVersion === dataVersion) return known.value as T;
  const value = read();
  if (value === undefined) return undefined;
  values.set(key, { dataVersion, value });
  return value;
}
