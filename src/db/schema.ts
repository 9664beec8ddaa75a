import type { AuthorizerTables } from './tables/authorizer.js';
import type { CoreTables } from './tables/core.js';
import type { HostStoreTables } from './tables/host-store.js';
import type { IdentityTables } from './tables/identity.js';

/** Every table privgate keeps; one file per area under tables/. */
export interface Tables extends CoreTables, IdentityTables, HostStoreTables, AuthorizerTables {}
