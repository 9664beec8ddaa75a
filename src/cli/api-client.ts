import type { Command } from 'commander';
import { addStorageOptions, storageConfig, type StorageFlags } from './options.js';

/** `privgate api-client create`: make an API client straight in the database (works while serve runs). */
export function registerApiClientCommand(program: Command): void {
  const group = program.command('api-client').description('manage API clients from the command line');
  addStorageOptions(
    group
      .command('create')
      .description('create an API client and print {id, secret, oauth_client_id, oauth_client_secret} as JSON')
      .requiredOption('--name <name>', 'unique name of the client')
      .option('--role <role...>', 'role name(s) to grant, e.g. privx-admin', []),
  ).action(async (flags: StorageFlags & { name: string; role: string[] }) => {
    const [{ loadSecretKey }, { openDatabase }, { migrateToLatest }, { systemClock }, { createApiClient }, { ensureBuiltinRoles }] = await Promise.all([
      import('../bootstrap.js'),
      import('../db/index.js'),
      import('../db/migrate.js'),
      import('../lib/time.js'),
      import('../services/local-user-store/repository.js'),
      import('../services/role-store/repository.js'),
    ]);
    const config = storageConfig(flags);
    const database = await openDatabase({ databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema, dataDir: config.dataDir });
    try {
      await migrateToLatest(database);
      const now = systemClock.now();
      await ensureBuiltinRoles(database.db, now);
      const roles = flags.role.length === 0 ? [] : await database.db.selectFrom('roles').select(['id', 'name']).where('name', 'in', flags.role).execute();
      const missing = flags.role.filter((name) => !roles.some((role) => role.name === name));
      if (missing.length > 0) throw new Error(`unknown role(s): ${missing.join(', ')}`);
      const secretKey = await loadSecretKey(database.db);
      const credentials = await createApiClient(database.db, secretKey, { name: flags.name, roles }, 'cli', now);
      process.stdout.write(`${JSON.stringify(credentials)}\n`);
    } finally {
      await database.close();
    }
  });
}
