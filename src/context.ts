import type { FastifyBaseLogger } from 'fastify';
import type { Config } from './config.js';
import type { Database } from './db/index.js';
import type { InstallationKey } from './installation-key.js';
import type { Clock } from './lib/time.js';

/**
 * What every service plugin is built on: configuration, storage, time and the log. Decorated on
 * the Fastify instance as `app.context` by buildApp; nothing reaches for a global instead.
 */
export interface AppContext {
  config: Config;
  database: Database;
  clock: Clock;
  log: FastifyBaseLogger;
  /** The control plane's CA certificate (PEM) that clients verify our HTTPS with, when we made it. */
  tlsCaPem: string | undefined;
  /** When this node started (status endpoints report it). */
  startTime: Date;
  /**
   * Key for the keyed SHA-256 of server-generated secrets (API client and trusted client
   * secrets, session ids). Shared by every node through the database; `PRIVGATE_SECRET_KEY`
   * (base64, ≥ 32 bytes) keeps it out of the database instead.
   */
  secretKey: Buffer;
  /** Seals the secrets privgate reads back (API-client secrets, private keys); never in the database. */
  installationKey: InstallationKey;
}

declare module 'fastify' {
  interface FastifyInstance {
    context: AppContext;
  }
}
