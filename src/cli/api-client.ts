import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { addStorageOptions, storageConfig, type StorageFlags } from './options.js';

/** Where a database is, for error messages: the SQLite file, or the PostgreSQL server and schema (no password). */
function databaseLocation(config: { databaseUrl: string | undefined; databaseSchema: string | undefined; dataDir: string }): string {
  if (!config.databaseUrl) return path.resolve(config.dataDir, 'privgate.db');
  let server = 'the PostgreSQL server';
  try {
    const url = new URL(config.databaseUrl);
    server = `postgres://${url.host}${url.pathname}`;
  } catch {
    // keep the generic name
  }
  return `schema "${config.databaseSchema ?? 'public'}" of ${server}`;
}

/**
 * Writes `text` to `file` with mode 0600 (also when the file already existed with a wider mode).
 * Opened before anything is created, so a bad path fails before the database changes.
 */
function openSecretFile(file: string): { write(text: string): void; discard(): void } {
  const fd = fs.openSync(file, 'w', 0o600);
  fs.fchmodSync(fd, 0o600);
  return {
    write(text) {
      fs.writeSync(fd, text);
      fs.closeSync(fd);
    },
    discard() {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    },
  };
}

/** `privgate api-client create`: make an API client straight in the database (works while serve runs). */
export function registerApiClientCommand(program: Command): void {
  const group = program.command('api-client').description('manage API clients from the command line');
  addStorageOptions(
    group
      .command('create')
      .description('create an API client and print {id, secret, oauth_client_id, oauth_client_secret} as JSON')
      .requiredOption('--name <name>', 'unique name of the client')
      .option('--role <role...>', 'role name(s) to grant, e.g. privx-admin', [])
      .option('--out <file>', 'write the JSON to FILE (mode 0600) instead of standard output'),
  ).action(async (flags: StorageFlags & { name: string; role: string[]; out?: string }) => {
    const [{ loadSecretKey }, { openDatabase }, { appliedMigrations, migrateToLatest }, { metaStore }, { loadCheckedInstallationKey }, { systemClock }, { createApiClient }, { ensureBuiltinRoles, roleRefsByNames }] =
      await Promise.all([
        import('../bootstrap.js'),
        import('../db/index.js'),
        import('../db/migrate.js'),
        import('../db/meta-repository.js'),
        import('../installation-key.js'),
        import('../lib/time.js'),
        import('../services/local-user-store/api-client-repository.js'),
        import('../services/role-store/repository.js'),
      ]);
    const config = storageConfig(flags);
    const location = databaseLocation(config);
    const notInitialised = () =>
      new Error(
        `no privgate database at ${location}: start \`privgate serve\` with the same --data-dir (or --database-url and --database-schema) first, ` +
          "or point this command at the running server's database",
      );
    // A wrong --data-dir must not silently make a new, empty database the server never reads.
    if (!config.databaseUrl && !fs.existsSync(location)) throw notInitialised();
    const out = flags.out === undefined ? undefined : openSecretFile(flags.out);
    let written = false;
    const database = await openDatabase({ databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema, dataDir: config.dataDir });
    try {
      if ((await appliedMigrations(database)).length === 0) throw notInitialised();
      await migrateToLatest(database);
      const now = systemClock.now();
      await ensureBuiltinRoles(database.db, now);
      const roles = flags.role.length === 0 ? [] : await roleRefsByNames(database.db, flags.role);
      const missing = flags.role.filter((name) => !roles.some((role) => role.name === name));
      if (missing.length > 0) throw new Error(`unknown role(s): ${missing.join(', ')}`);
      const secretKey = await loadSecretKey(database.db);
      // The same key serve uses (seals the secrets GET returns); refuses a key that does not match the database.
      const installationKey = await loadCheckedInstallationKey(metaStore(database.db), config.dataDir);
      const credentials = await createApiClient(database.db, { secretKey, installationKey }, { name: flags.name, roles }, 'cli', now);
      const json = `${JSON.stringify(credentials)}\n`;
      if (out) {
        out.write(json);
        written = true;
        process.stderr.write(`privgate: API client ${credentials.id} created; credentials written to ${flags.out} (mode 0600)\n`);
      } else {
        process.stdout.write(json);
      }
    } finally {
      if (out && !written) out.discard();
      await database.close();
    }
  });
}
