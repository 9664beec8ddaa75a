import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { ConfigInput } from '../config.js';

/** Commander hands the flags over under the config's own names. */
type ServeFlags = ConfigInput & { tlsSan: string[] };

/** `privgate serve`: one control-plane node. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the PrivX-compatible API over HTTPS')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:8443, env PRIVGATE_LISTEN)')
    .option('--data-dir <dir>', 'directory for the SQLite file, TLS material and the initial admin password (default ./data)')
    .option('--database-url <url>', 'postgres://… to use PostgreSQL instead of SQLite (env DATABASE_URL)')
    .option('--database-schema <name>', 'PostgreSQL schema (default public)')
    .option('--tls-cert <file>', 'PEM server certificate (with --tls-key); default: a self-made CA and certificate in DATA/tls')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-san <name>', 'extra DNS name or IP for the self-made server certificate (repeatable)', (value: string, all: string[]) => [...all, value], [])
    .option('--insecure-http', 'serve plain HTTP, for running behind a TLS-terminating load balancer')
    .option('--public-url <url>', 'URL clients and web proxies reach this installation by (env PRIVGATE_PUBLIC_URL)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env PRIVGATE_LOG_LEVEL)')
    .action(async (flags: ServeFlags) => {
      // Imported here so `--help` of every command stays instant.
      const [{ buildApp }, { loadConfig }, { ensureLocalTls }] = await Promise.all([import('../app.js'), import('../config.js'), import('../tls-files.js')]);
      const config = loadConfig(flags);
      let https: { key: string; cert: string } | undefined;
      let tlsCaPem: string | undefined;
      if (config.tls.mode === 'self-managed') {
        const tls = await ensureLocalTls({ directory: path.join(config.dataDir, 'tls'), extraNames: [...config.tls.extraNames, ...(config.host === '0.0.0.0' || config.host === '::' ? [] : [config.host])] });
        https = { key: tls.keyPem, cert: tls.certPem };
        tlsCaPem = tls.caPem;
      } else if (config.tls.mode === 'files') {
        https = { key: fs.readFileSync(config.tls.keyFile, 'utf8'), cert: fs.readFileSync(config.tls.certFile, 'utf8') };
      }
      const app = await buildApp(config, { ...(https ? { https } : {}), ...(tlsCaPem ? { tlsCaPem } : {}) });
      if (config.tls.mode === 'off') app.log.warn('serving plain HTTP (--insecure-http): put a TLS-terminating balancer in front');

      let closing = false;
      const shutdown = (signal: string) => {
        if (closing) return;
        closing = true;
        app.log.info({ signal }, 'shutting down: finishing in-flight requests');
        // A stuck request must not keep the process alive forever.
        setTimeout(() => process.exit(1), 10_000).unref();
        app.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));

      // Past this many sockets the kernel-accepted connection is closed at once, so a flood of idle
      // connections cannot exhaust file descriptors; slow clients are cut by the header timeout.
      app.server.maxConnections = config.maxConnections;
      app.server.headersTimeout = 20_000;
      await app.listen({ host: config.host, port: config.port });
      app.log.info({ url: config.publicUrl, database: app.context.database.dialect }, 'privgate serving');
    });
}
