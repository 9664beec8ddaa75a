import type { Command } from 'commander';
import { loadConfig, type Config, type LogLevel } from '../config.js';

/** Flags every command that opens the database shares. */
export function addStorageOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'directory for the SQLite file and generated TLS material (default ./data, env PRIVGATE_DATA_DIR)')
    .option('--database-url <url>', 'postgres://… to use PostgreSQL instead of SQLite (env DATABASE_URL)')
    .option('--database-schema <name>', 'PostgreSQL schema (default public, env PRIVGATE_DATABASE_SCHEMA)');
}

export interface StorageFlags {
  dataDir?: string;
  databaseUrl?: string;
  databaseSchema?: string;
  logLevel?: LogLevel;
}

export function storageConfig(flags: StorageFlags): Config {
  return loadConfig({ dataDir: flags.dataDir, databaseUrl: flags.databaseUrl, databaseSchema: flags.databaseSchema, logLevel: flags.logLevel });
}
