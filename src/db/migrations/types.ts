import type { Kysely } from 'kysely';
import type { DialectName } from '../index.js';

/**
 * What every numbered migration exports. Kept apart from index.ts (which imports every migration)
 * so a migration's import of these types is no import cycle.
 */

/** What a migration may need to know beyond the Kysely handle: dialect-specific column types. */
export interface MigrationContext {
  dialect: DialectName;
}

export interface MigrationModule {
  up(db: Kysely<unknown>, context: MigrationContext): Promise<void>;
  down(db: Kysely<unknown>, context: MigrationContext): Promise<void>;
}
