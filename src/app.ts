import type { Writable } from 'node:stream';
import crypto from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import formbody from '@fastify/formbody';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from './config.js';
import type { AppContext } from './context.js';
import { openDatabase, type Database } from './db/index.js';
import { migrateToLatest } from './db/migrate.js';
import { metaStore } from './db/meta-repository.js';
import { loadCheckedInstallationKey } from './installation-key.js';
import { ensureAccessGroupCas } from './services/authorizer/access-group-use-cases.js';
import { systemClock, type Clock } from './lib/time.js';
import { holdTickObjectShape } from './lib/tick-shape.js';
import { authenticatePlugin } from './plugins/authenticate.js';
import { createHotReads, fastPathServerFactory, hotReadsPlugin, readsWithoutWaiting, type HotReads } from './fast-path/index.js';
import { clientErrorHandler, errorHandlerPlugin, frameworkErrorHandler } from './plugins/error-handler.js';
import { openApiPlugin } from './plugins/openapi.js';
import { requestParsingPlugin } from './plugins/request-parsing.js';
import { deferredChildLogger, levelEnabled, loggerOptions } from './logging.js';
import { bootstrapInstallation, loadSecretKey } from './bootstrap.js';
import { rejectedTokenAuditor } from './services/auth/rejection-audit.js';
import { TokenService } from './services/auth/token-service.js';
import authService from './services/auth/index.js';
import localUserStoreService from './services/local-user-store/index.js';
import roleStoreService from './services/role-store/index.js';
import hostStoreService from './services/host-store/index.js';
import authorizerService from './services/authorizer/index.js';
import settingsService from './services/settings/index.js';
import monitorService from './services/monitor-service/index.js';
import { createAuditExporter, type AuditExporter } from './services/monitor-service/export/exporter.js';
import { HOUSEKEEPING_INTERVAL_MS, startHousekeeping, type Housekeeping } from './services/housekeeping.js';

export interface BuildOptions {
  /** Use this database instead of opening the one the config names (the caller closes it). */
  database?: Database;
  clock?: Clock;
  /** TLS material for HTTPS; without it the app speaks plain HTTP (tests use inject). */
  https?: { key: string; cert: string };
  /** The CA that signed our server certificate, handed to web proxies in their config. */
  tlsCaPem?: string;
  /** Where log lines go (tests capture them); default stdout. */
  logStream?: Writable;
  /** How often this node purges expired security rows (default every 10 minutes). */
  housekeepingIntervalMs?: number;
  /** How often the audit exporter polls for new events (default every second). */
  auditExportIntervalMs?: number;
}

/** A response's `x-request-id` (and its log lines' `reqId`). */
const requestId = (): string => crypto.randomUUID();

declare module 'fastify' {
  interface FastifyInstance {
    /** The routes answered before Fastify when their answer is known now (see HotReads). */
    hotReads: HotReads;
    /** The audit-event exporter, when a sink is configured (PRIVGATE_AUDIT_*). */
    auditExporter?: AuditExporter;
  }
}

/** The PrivX services privgate serves, each a plugin under its URL prefix. */
const SERVICES = [
  ['/auth/api/v1', authService],
  ['/local-user-store/api/v1', localUserStoreService],
  ['/role-store/api/v1', roleStoreService],
  ['/host-store/api/v1', hostStoreService],
  ['/authorizer/api/v1', authorizerService],
  ['/settings/api/v1', settingsService],
  ['/monitor-service/api/v1', monitorService],
] as const;

/**
 * Builds one control-plane node: opens and migrates the database, bootstraps the installation on
 * first start, registers cross-cutting plugins, then one plugin per service.
 */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  // Before start-up's first full collection, or every process.nextTick is slower for good.
  holdTickObjectShape();
  const ownsDatabase = options.database === undefined;
  const database =
    options.database ??
    (await openDatabase({ databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema, dataDir: config.dataDir, syncReads: config.fastPath }));
  if (!config.fastPath && readsWithoutWaiting(database.db)) {
    throw new Error('the fast path is off (PRIVGATE_FAST_PATH=off) but the database given has a synchronous read connection: open it with syncReads: false');
  }
  try {
    await migrateToLatest(database);
    const serverOptions: FastifyServerOptions & { https?: boolean } = {
      // The server is ours (serverFactory), so this only tells Fastify the scheme it serves: its
      // "Server listening at" line and listeningOrigin say https.
      https: options.https !== undefined,
      logger: loggerOptions(config.logLevel, options.logStream),
      childLoggerFactory: deferredChildLogger,
      // Fastify's per-request lines are written at info; above it they would be dropped anyway, so
      // skip building them. (Errors the app answers are logged by the error handler at any level.)
      logController: new LogController({ disableRequestLogging: () => !levelEnabled(app.log, 'info') }),
      bodyLimit: config.bodyLimit,
      exposeHeadRoutes: false,
      genReqId: requestId,
      return503OnClosing: true,
      // Clients percent-encode path parameters; ids never legitimately hold a '/', so a long one is an attack.
      routerOptions: { maxParamLength: 500, ignoreTrailingSlash: true },
      // Fastify's own answers (a URL that is not valid percent-encoding, an over-long parameter,
      // a request Node's parser refuses) in the envelope too.
      frameworkErrors: frameworkErrorHandler,
      clientErrorHandler,
      // Our own server so that hot reads (see src/fast-path) see a request before Fastify does.
      // With the fast path off it hands every request to Fastify.
      serverFactory: fastPathServerFactory(options.https, config.fastPath ? () => hotReads : () => undefined, () => app.log),
    };
    let hotReads: HotReads | undefined;
    const app = Fastify(serverOptions).withTypeProvider<TypeBoxTypeProvider>();

    const context: AppContext = {
      config,
      database,
      clock: options.clock ?? systemClock,
      log: app.log,
      tlsCaPem: options.tlsCaPem,
      startTime: new Date(),
      secretKey: await loadSecretKey(database.db),
      installationKey: await loadCheckedInstallationKey(metaStore(database.db), config.dataDir),
    };
    app.decorate('context', context);
    if (ownsDatabase) app.addHook('onClose', async () => database.close());

    await bootstrapInstallation({
      db: database.db,
      clock: context.clock,
      dataDir: config.dataDir,
      initialAdminPassword: config.initialAdminPassword,
      log: app.log,
    });
    // The default access group (made by a migration) gets its CA key, sealed under the installation key.
    await ensureAccessGroupCas(context);
    const tokens = new TokenService(context);
    await tokens.start();
    app.decorate('tokens', tokens);
    hotReads = createHotReads(tokens, requestId, app.log);
    app.decorate('hotReads', hotReads);

    // Set before anything can answer, so every response (401s and errors included) carries them; an
    // onRequest hook rather than onSend keeps the response path free of a hook. Callback style: no
    // promise per request. HotReads sets the same two headers on the answers it gives itself.
    app.addHook('onRequest', function stampResponse(request, reply, done) {
      reply.header('x-request-id', request.id);
      reply.header('cache-control', 'no-store');
      done();
    });

    await app.register(errorHandlerPlugin);
    await app.register(requestParsingPlugin);
    await app.register(formbody, { bodyLimit: config.bodyLimit });
    await app.register(authenticatePlugin, { verifier: tokens, onRejected: rejectedTokenAuditor(context) });
    // Off: no route is registered, so the decorated HotReads stays empty (served = 0).
    if (config.fastPath) await app.register(hotReadsPlugin, { hotReads });
    await app.register(openApiPlugin);
    for (const [prefix, service] of SERVICES) await app.register(service, { prefix });
    // Started once the app is ready; stopped before the database closes (onClose runs last-added first).
    let housekeeping: Housekeeping | undefined;
    app.addHook('onReady', async () => {
      housekeeping = startHousekeeping(context, options.housekeepingIntervalMs ?? HOUSEKEEPING_INTERVAL_MS);
    });
    app.addHook('onClose', async () => housekeeping?.stop());
    // Audit export (PRIVGATE_AUDIT_*): polls committed events; stopped (sinks closed, cursors
    // stored) before the database closes.
    const auditExporter = createAuditExporter(database.db, config, app.log, options.auditExportIntervalMs ? { intervalMs: options.auditExportIntervalMs } : {});
    if (auditExporter !== undefined) {
      app.decorate('auditExporter', auditExporter);
      app.addHook('onReady', async () => auditExporter.start());
      app.addHook('onClose', async () => auditExporter.stop());
    }
    await app.ready();
    return app;
  } catch (error) {
    if (ownsDatabase) await database.close();
    throw error;
  }
}
