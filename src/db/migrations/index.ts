import type { Kysely } from 'kysely';
import type { DialectName } from '../index.js';
import * as core from './0001_core.js';
import * as identity from './0002_identity.js';
import * as hostStore from './0003_host_store.js';
import * as authorizer from './0004_authorizer.js';
import * as housekeeping from './0005_housekeeping.js';
import * as revocationFanout from './0006_revocation_fanout.js';
import * as loginAttempts from './0007_login_attempts.js';
import * as roleFields from './0010_role_fields.js';

/** What a migration may need to know beyond the Kysely handle: dialect-specific column types. */
export interface MigrationContext {
  dialect: DialectName;
}

export interface MigrationModule {
  up(db: Kysely<unknown>, context: MigrationContext): Promise<void>;
  down(db: Kysely<unknown>, context: MigrationContext): Promise<void>;
}

/** Every migration, in order. Names are the numbered files; never rename or reorder a landed one. */
export const MIGRATIONS: ReadonlyArray<readonly [string, MigrationModule]> = [
  ['0001_core', core],
  ['0002_identity', identity],
  ['0003_host_store', hostStore],
  ['0004_authorizer', authorizer],
  ['0005_housekeeping', housekeeping],
  ['0006_revocation_fanout', revocationFanout],
  ['0007_login_attempts', loginAttempts],
  ['0010_role_fields', roleFields],
];
