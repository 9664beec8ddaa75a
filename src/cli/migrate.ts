import type { Command } from 'commander';
import { addStorageOptions, storageConfig, type StorageFlags } from './options.js';

/** `privgate migrate`: apply (or with --down, revert) schema migrations. */
export function registerMigrateCommand(program: Command): void {
  addStorageOptions(
    program
      .command('migrate')
      .description('apply pending database migrations (serve also does this at start)')
      .option('--down [target]', 'revert migrations down to TARGET (exclusive), or all of them'),
  ).action(async (flags: StorageFlags & { down?: string | boolean }) => {
    const [{ openDatabase }, { appliedMigrations, migrateDown, migrateToLatest }] = await Promise.all([import('../db/index.js'), import('../db/migrate.js')]);
    const config = storageConfig(flags);
    const database = await openDatabase({ databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema, dataDir: config.dataDir });
    try {
      const done = flags.down === undefined ? await migrateToLatest(database) : await migrateDown(database, typeof flags.down === 'string' ? flags.down : undefined);
      process.stdout.write(`${JSON.stringify({ database: database.dialect, ran: done, applied: await appliedMigrations(database) })}\n`);
    } finally {
      await database.close();
    }
  });
}
