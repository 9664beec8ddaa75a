/**
 * `privgate web-proxy`: the daemon. Starts the ICAP server and the health/metrics endpoint at
 * once (denying everything until a policy is known), enforces the persisted last good policy
 * when there is one, then in the background registers (first start only), gets tokens, keeps
 * the policy fresh by long-poll and ships audit events.
 */
import { pino, type Logger } from 'pino';
import { holdTickObjectShape } from '../lib/tick-shape.js';
import { systemClock, type Clock } from '../lib/time.js';
import { AuditSender } from './audit-sender.js';
import { loadWebProxyConfig, MAX_INSPECT_BYTES, type WebProxyConfig, type WebProxyFlags } from './config.js';
import { ControlPlaneClient, TokenManager } from './control-plane-client.js';
import { ControlPlaneStatus } from './control-plane-status.js';
import { WebProxyHandler } from './handler.js';
import { IcapParseError } from './icap-parser.js';
import { createIcapServer, type IcapServer } from './icap-server.js';
import type { IcapLogger } from './icap-types.js';
import { WebProxyMetrics } from './metrics.js';
import { PolicyFollower, restorePersistedPolicy } from './policy-follower.js';
import { PolicyStore } from './policy-store.js';
import { Registration, type RegistrationState } from './registration.js';
import { StateDirectory } from './state.js';
import { StatusServer } from './status-server.js';

export type { RegistrationState } from './registration.js';

/** ICAP connections served at once (Squid keeps persistent ones per worker). */
const MAX_ICAP_CONNECTIONS = 200;
/** Longer than Squid's own idle timeout for ICAP connections, so Squid is the side that closes them. */
const ICAP_IDLE_TIMEOUT_MS = 10 * 60_000;

/** A running web proxy. */
export interface WebProxyDaemon {
  readonly config: WebProxyConfig;
  readonly icapAddress: { host: string; port: number };
  readonly metricsAddress: { host: string; port: number };
  readonly store: PolicyStore;
  readonly metrics: WebProxyMetrics;
  registration(): RegistrationState;
  /** Stops the control-plane loops, flushes audit events briefly, closes the listeners. */
  stop(): Promise<void>;
}

/** Starts the daemon with a resolved config; resolves once both listeners are bound. */
export async function startWebProxy(config: WebProxyConfig, options: { logger?: Logger; clock?: Clock } = {}): Promise<WebProxyDaemon> {
  // Before the first full collection, or every process.nextTick is slower for good (see there).
  holdTickObjectShape();
  const logger =
    options.logger ??
    pino({
      level: config.logLevel,
      base: { component: 'web-proxy', pid: process.pid },
      redact: { paths: ['*.token', '*.secret', '*.client_secret', '*.oauth_client_secret', '*.access_token', '*.refresh_token'], censor: '[redacted]' },
    });
  const clock = options.clock ?? systemClock;
  const state = new StateDirectory(config.stateDirectory);
  state.ensure();
  const metrics = new WebProxyMetrics();
  const store = new PolicyStore();

  // Fail closed: until a policy is installed the store denies every request.
  restorePersistedPolicy({ state, store, metrics, logger });

  const client = new ControlPlaneClient({
    caCertificate: config.controlPlane.caCertificate,
    tokenUrl: config.controlPlane.tokenUrl,
    policyUrl: config.controlPlane.policyUrl,
    auditUrl: config.controlPlane.auditUrl,
    registerUrl: config.registration.registerUrl,
  });
  const controlPlane = new ControlPlaneStatus(metrics, clock);
  const registration: Registration = new Registration({ config, state, client, controlPlane, logger, clock, onRegistered: () => tokens.invalidate() });
  const tokens = new TokenManager(client, () => registration.credentials);
  const audit = new AuditSender({ state, client, tokens, registered: () => registration.credentials !== null, metrics, logger });
  const policy = new PolicyFollower({ config, state, client, tokens, store, metrics, controlPlane, registration, logger, clock });

  // ---- ICAP
  const handler = new WebProxyHandler({
    reqmodService: config.icap.reqmodService,
    respmodService: config.icap.respmodService,
    store,
    audit: (event) => audit.push(event),
    metrics,
    logger,
    maxInspectBytes: MAX_INSPECT_BYTES,
    maxUploadBytes: config.content.maxUploadBytes,
    maxConnections: MAX_ICAP_CONNECTIONS,
  });
  const icapLogger: IcapLogger = {
    debug: (details, message) => logger.debug(details, message),
    info: (details, message) => logger.info(details, message),
    warn: (details, message) => {
      if ((details as { err?: unknown }).err instanceof IcapParseError) metrics.icapErrors.inc({ cause: 'protocol' });
      logger.warn(details, message);
    },
    error: (details, message) => logger.error(details, message),
  };
  const icap: IcapServer = createIcapServer({
    host: config.icap.host,
    port: config.icap.port,
    handler,
    maxConnections: MAX_ICAP_CONNECTIONS,
    idleTimeoutMs: ICAP_IDLE_TIMEOUT_MS,
    limits: { maxBodyBytes: MAX_INSPECT_BYTES },
    logger: icapLogger,
    istag: 'pg-nopolicy',
  });

  metrics.addGauge('privgate_webproxy_policy_loaded', '1 when a policy is enforced, 0 while everything is denied.', () => (store.index ? 1 : 0));
  metrics.addGauge('privgate_webproxy_policy_version', 'Version of the enforced policy (-1 when none).', () => store.index?.version ?? -1);
  metrics.addGauge('privgate_webproxy_policy_age_seconds', 'Seconds since the control plane last confirmed the enforced policy (NaN when none).', () => store.status(clock.now()).ageSeconds ?? NaN);
  metrics.addGauge('privgate_webproxy_audit_queue_length', 'Audit events waiting to be sent.', () => audit.length);
  metrics.addGauge('privgate_webproxy_icap_connections', 'Open ICAP connections.', () => icap.connectionCount);
  metrics.addGauge('privgate_webproxy_registered', '1 once registered with the control plane.', () => (registration.state === 'registered' ? 1 : 0));

  // ---- health and metrics
  const statusServer = new StatusServer({
    host: config.metrics.host,
    port: config.metrics.port,
    store,
    metrics,
    controlPlane,
    registration: () => registration.state,
    auditQueueLength: () => audit.length,
    clock,
  });

  const icapAddress = await icap.listen();
  let metricsAddress: { host: string; port: number };
  try {
    metricsAddress = await statusServer.listen();
  } catch (error) {
    await icap.close();
    throw error;
  }
  logger.info({ icap: icapAddress, metrics: metricsAddress, state_directory: config.stateDirectory }, 'web proxy listening');

  // ---- control plane: registration comes first; audit events and the policy feed need its credentials.
  const controlLoop = (async () => {
    if (!(await registration.start())) return;
    audit.start();
    await policy.start();
  })().catch((error: unknown) => logger.error({ err: error }, 'control-plane loop failed'));

  let stopped: Promise<void> | null = null;
  return {
    config,
    icapAddress,
    metricsAddress,
    store,
    metrics,
    registration: () => registration.state,
    stop() {
      stopped ??= (async () => {
        registration.stop();
        policy.stop();
        await controlLoop;
        await audit.stop();
        await Promise.all([statusServer.close(), icap.close()]);
        client.close();
        logger.info('web proxy stopped');
      })();
      return stopped;
    },
  };
}

/**
 * Runs `privgate web-proxy --config FILE` until SIGTERM or SIGINT. Rejects when the config is
 * unusable or a listener cannot bind.
 */
export async function runWebProxy(configPath: string, flags: WebProxyFlags = {}): Promise<void> {
  const config = loadWebProxyConfig(configPath, flags);
  const daemon = await startWebProxy(config);
  await new Promise<void>((resolve) => {
    let closing = false;
    const shutdown = () => {
      if (closing) return;
      closing = true;
      // A stuck connection must not keep the process alive forever.
      setTimeout(() => process.exit(1), 10_000).unref();
      daemon.stop().then(resolve, resolve);
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
}
