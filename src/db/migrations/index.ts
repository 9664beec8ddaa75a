import * as core from './0001_core.js';
import * as identity from './0002_identity.js';
import * as hostStore from './0003_host_store.js';
import * as authorizer from './0004_authorizer.js';
import * as housekeeping from './0005_housekeeping.js';
import * as revocationFanout from './0006_revocation_fanout.js';
import * as loginAttempts from './0007_login_attempts.js';
import * as accessGroups from './0008_access_groups.js';
import * as localUserFields from './0009_local_user_fields.js';
import type { MigrationModule } from './types.js';
import * as roleFields from './0010_role_fields.js';
import * as clientFields from './0011_client_fields.js';
import * as whitelists from './0012_whitelists.js';
import * as auditShape from './0013_audit_shape.js';
import * as hostFields from './0014_host_fields.js';
import * as hostPrincipals from './0016_host_principals.js';

/** Migrations import these from './types.js' (importing them from here would be a cycle). */
export type { MigrationContext, MigrationModule } from './types.js';

/** Every migration, in order. Names are the numbered files; never rename or reorder a landed one. */
export const MIGRATIONS: ReadonlyArray<readonly [string, MigrationModule]> = [
  ['0001_core', core],
  ['0002_identity', identity],
  ['0003_host_store', hostStore],
  ['0004_authorizer', authorizer],
  ['0005_housekeeping', housekeeping],
  ['0006_revocation_fanout', revocationFanout],
  ['0007_login_attempts', loginAttempts],
  ['0008_access_groups', accessGroups],
  ['0009_local_user_fields', localUserFields],
  ['0010_role_fields', roleFields],
  ['0011_client_fields', clientFields],
  ['0012_whitelists', whitelists],
  ['0013_audit_shape', auditShape],
  ['0014_host_fields', hostFields],
  ['0016_host_principals', hostPrincipals],
];
