import { Migrator, NO_MIGRATIONS, sql, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import type { Database } from './index.js';
import { MIGRATIONS } from './migrations/index.js';

// Any constant works; it only has to be the same on every node of one installation.
const POSTGRES_MIGRATION_LOCK = 720_399_114;

export class MigrationError extends Error {
  override name = 'MigrationError';
}

function migrator(database: Database): Migrator {
  const context = { dialect: database.dialect };
  const migrations: Record<string, Migration> = {};
  for (const [name, module] of MIGRATIONS) {
    migrations[name] = {
      up: (db: Kysely<unknown>) => module.up(db, context),
      down: (db: Kysely<unknown>) => module.down(db, context),
    };
  }
  return new Migrator({
    db: database.db,
    provider: { getMigrations: async () => migrations },
    ...(database.schema ? { migrationTableSchema: database.schema } : {}),
  });
}

/**
 * Runs `work` while holding an installation-wide lock, so two nodes starting at once against one
 * PostgreSQL never both migrate. Kysely's own lock row is not enough: creating its lock table
 * races on an empty database. SQLite serialises writers by itself.
 */
async function withMigrationLock<T>(database: Database, work: () => Promise<T>): Promise<T> {
  if (database.dialect !== 'postgres') return work();
  return database.db.connection().execute(async (connection) => {
    await sql`select pg_advisory_lock(${POSTGRES_MIGRATION_LOCK})`.execute(connection);
    try {
      return await work();
    } finally {
      await sql`select pg_advisory_unlock(${POSTGRES_MIGRATION_LOCK})`.execute(connection);
    }
  });
}

function check(result: MigrationResultSet): string[] {
  if (result.error) {
    const failed = result.results?.find((migration) => migration.status === 'Error');
    throw new MigrationError(`migration ${failed?.migrationName ?? '?'} failed: ${String(result.error)}`);
  }
  return (result.results ?? []).map((migration) => `${migration.direction} ${migration.migrationName}`);
}

/** Applies every pending migration; returns what it did (empty when already current). */
export async function migrateToLatest(database: Database): Promise<string[]> {
  return withMigrationLock(database, async () => check(await migrator(database).migrateToLatest()));
}

/** Reverts migrations down to (excluding) `target`, or all of them when target is undefined. */
export async function migrateDown(database: Database, target?: string): Promise<string[]> {
  return withMigrationLock(database, async () => check(await migrator(database).migrateTo(target ?? NO_MIGRATIONS)));
}

/** Names of applied migrations, oldest first. */
export async function appliedMigrations(database: Database): Promise<string[]> {
  const all = await migrator(database).getMigrations();
  return all.filter((migration) => migration.executedAt !== undefined).map((migration) => migration.name);
}
