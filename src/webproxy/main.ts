/**
 * `privgate web-proxy`: the daemon. Starts the ICAP server and the health/metrics endpoint at
 * once (denying everything until a policy is known), enforces the persisted last good policy
 * when there is one, then in the background registers (first start only), gets tokens, keeps
 * the policy fresh by long-poll and ships audit events.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { createCertificateSigningRequest } from '../lib/pki.js';
import { holdTickObjectShape } from '../lib/tick-shape.js';
import { AuditSender } from './audit-sender.js';
import { loadWebProxyConfig, MAX_INSPECT_BYTES, type WebProxyConfig, type WebProxyFlags } from './config.js';
import { ControlPlaneClient, ControlPlaneError, TokenManager } from './control-plane-client.js';
import { ControlPlaneStatus } from './control-plane-status.js';
import { WebProxyHandler } from './handler.js';
import { IcapParseError } from './icap-parser.js';
import { createIcapServer, type IcapServer } from './icap-server.js';
import type { IcapLogger } from './icap-types.js';
import { WebProxyMetrics } from './metrics.js';
import { PolicyStore } from './policy-store.js';
import type { RegistrationState } from './registration.js';
import { secretFingerprint, StateDirectory, type StoredCredentials } from './state.js';
import { StatusServer } from './status-server.js';

/** ICAP connections served at once (Squid keeps persistent ones per worker). */
const MAX_ICAP_CONNECTIONS = 200;
/** Longer than Squid's own idle timeout for ICAP connections, so Squid is the side that closes them. */
const ICAP_IDLE_TIMEOUT_MS = 10 * 60_000;
const MAX_BACKOFF_MS = 30_000;

export type { RegistrationState } from './registration.js';

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

function nextBackoff(current: number): number {
  return Math.min(current === 0 ? 1000 : current * 2, MAX_BACKOFF_MS);
}

/** Starts the daemon with a resolved config; resolves once both listeners are bound. */
export async function startWebProxy(config: WebProxyConfig, options: { logger?: Logger } = {}): Promise<WebProxyDaemon> {
  // Before the first full collection, or every process.nextTick is slower for good (see there).
  holdTickObjectShape();
  const logger =
    options.logger ??
    pino({
      level: config.logLevel,
      base: { component: 'web-proxy', pid: process.pid },
      redact: { paths: ['*.token', '*.secret', '*.client_secret', '*.oauth_client_secret', '*.access_token', '*.refresh_token'], censor: '[redacted]' },
    });
  const state = new StateDirectory(config.stateDirectory);
  state.ensure();
  const metrics = new WebProxyMetrics();
  const store = new PolicyStore();
  const stopping = new AbortController();

  try {
    const persisted = state.readPolicy();
    if (persisted) {
      store.install(persisted.policy, persisted.etag, new Date(persisted.fetched_at), 'state_file');
      metrics.policyUpdates.inc({ source: 'state_file' });
      logger.info({ version: persisted.policy.version, fetched_at: persisted.fetched_at }, 'enforcing the persisted policy until the control plane answers');
    } else {
      logger.warn('no policy yet: denying every request until the control plane sends one');
    }
  } catch (error) {
    logger.error({ err: error }, 'the persisted policy is unusable; denying every request until the control plane sends one');
  }

  let credentials: StoredCredentials | null = state.readCredentials();
  if (credentials && credentials.trusted_client_id !== config.registration.trustedClientId) {
    logger.warn({ stored: credentials.trusted_client_id, configured: config.registration.trustedClientId }, 'the state directory belongs to another trusted client; registering anew');
    credentials = null;
  }
  let registration: RegistrationState = credentials ? 'registered' : 'pending';

  const client = new ControlPlaneClient({
    caCertificate: config.controlPlane.caCertificate,
    tokenUrl: config.controlPlane.tokenUrl,
    policyUrl: config.controlPlane.policyUrl,
    auditUrl: config.controlPlane.auditUrl,
    registerUrl: config.registration.registerUrl,
  });
  const tokens = new TokenManager(client, () => credentials);
  const controlPlane = new ControlPlaneStatus(metrics);

  const audit = new AuditSender({ state, client, tokens, registered: () => credentials !== null, metrics, logger });

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
  metrics.addGauge('privgate_webproxy_policy_age_seconds', 'Seconds since the control plane last confirmed the enforced policy (NaN when none).', () => store.status(new Date()).ageSeconds ?? NaN);
  metrics.addGauge('privgate_webproxy_audit_queue_length', 'Audit events waiting to be sent.', () => audit.length);
  metrics.addGauge('privgate_webproxy_icap_connections', 'Open ICAP connections.', () => icap.connectionCount);
  metrics.addGauge('privgate_webproxy_registered', '1 once registered with the control plane.', () => (registration === 'registered' ? 1 : 0));

  // ---- health and metrics
  const statusServer = new StatusServer({
    host: config.metrics.host,
    port: config.metrics.port,
    store,
    metrics,
    controlPlane,
    registration: () => registration,
    auditQueueLength: () => audit.length,
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

  // ---- control plane
  const noteSuccess = () => controlPlane.noteSuccess();
  const noteError = (operation: string, error: unknown) => controlPlane.noteError(operation, error);

  /** Registers with the config's one-time secret; true on success, false when refused for good. */
  const register = async (): Promise<boolean> => {
    const { trustedClientId, secret } = config.registration;
    let backoff = 0;
    while (!stopping.signal.aborted) {
      try {
        const request = await createCertificateSigningRequest({ commonName: `web-proxy-${trustedClientId}`.slice(0, 64) });
        const answer = await client.register(trustedClientId, secret, request.csrPem);
        const stored: StoredCredentials = {
          trusted_client_id: answer.trusted_client_id,
          oauth_client_id: answer.oauth_client_id,
          oauth_client_secret: answer.oauth_client_secret,
          client_secret: answer.client_secret,
          registered_at: new Date().toISOString(),
          registration_secret_sha256: secretFingerprint(secret),
          control_plane_url: config.controlPlane.url,
        };
        state.writeRegistration({ credentials: stored, privateKeyPem: request.privateKeyPem, certificatePem: answer.certificate, caCertificatePem: answer.ca_certificate });
        credentials = stored;
        registration = 'registered';
        tokens.invalidate();
        noteSuccess();
        logger.info({ trusted_client_id: stored.trusted_client_id, state_directory: config.stateDirectory }, 'registered with the control plane');
        return true;
      } catch (error) {
        noteError('register', error);
        if (error instanceof ControlPlaneError && (error.status === 403 || error.status === 400)) {
          logger.error({ err: error }, 'registration refused: download a new web-proxy config (its secret works once and expires) and restart');
          return false;
        }
        backoff = nextBackoff(backoff);
        logger.warn({ err: error, retry_in_ms: backoff }, 'registration failed; retrying');
        await sleep(backoff, undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
    return false;
  };

  /** After the control plane refused our credentials: a config with an unused secret may re-register. */
  const triedSecrets = new Set<string>();
  const maybeReRegister = async (): Promise<boolean> => {
    const secret = config.registration.secret;
    if (!secret || !credentials) return false;
    const fingerprint = secretFingerprint(secret);
    if (fingerprint === credentials.registration_secret_sha256 || triedSecrets.has(fingerprint)) return false;
    const expires = Date.parse(config.registration.secretExpires);
    if (!Number.isNaN(expires) && expires <= Date.now()) return false;
    triedSecrets.add(fingerprint);
    logger.warn('the control plane refused the stored credentials; registering again with the config’s new secret');
    return register();
  };

  const pollPolicy = async (): Promise<void> => {
    let backoff = 0;
    const wait = config.policy.longPollSeconds;
    while (!stopping.signal.aborted) {
      let token: string | undefined;
      let pause = 0;
      try {
        token = await tokens.get();
        const started = Date.now();
        const answer = await client.fetchPolicy(token, store.etag, wait, stopping.signal);
        const now = new Date();
        noteSuccess();
        backoff = 0;
        if (answer.status === 200) {
          const previous = store.index?.version;
          store.install(answer.policy, answer.etag, now, 'feed');
          metrics.policyUpdates.inc({ source: 'feed' });
          if (previous !== answer.policy.version) logger.info({ version: answer.policy.version, previous: previous ?? null }, 'policy updated');
          try {
            await state.writePolicy({ etag: answer.etag, fetched_at: now.toISOString(), policy: answer.policy });
          } catch (error) {
            logger.error({ err: error }, 'could not persist the policy; a restart without the control plane would enforce an older policy, or none');
          }
        } else {
          store.confirm(now);
          // A 304 well before the wait ran out means the control plane does not hold requests: poll at the refresh interval.
          if (Date.now() - started < wait * 500) pause = config.policy.refreshIntervalSeconds * 1000;
        }
        if (wait === 0) pause = config.policy.refreshIntervalSeconds * 1000;
      } catch (error) {
        if (stopping.signal.aborted) return;
        const status = error instanceof ControlPlaneError ? error.status : undefined;
        noteError('policy', error);
        if (status === 401 && token !== undefined) {
          // The access token was refused (expired, revoked, keys rotated): get a new one.
          tokens.invalidate(token);
        } else if (token === undefined && (status === 401 || status === 400) && (await maybeReRegister())) {
          continue;
        }
        backoff = nextBackoff(backoff);
        pause = backoff;
        logger.warn({ err: error, retry_in_ms: backoff }, 'policy fetch failed; enforcing the last good policy');
      }
      if (pause > 0) await sleep(pause, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  };

  const controlLoop = (async () => {
    if (!credentials) {
      const ok = await register();
      if (!ok) {
        if (!stopping.signal.aborted) registration = 'refused';
        return;
      }
    }
    audit.start();
    await pollPolicy();
  })().catch((error: unknown) => logger.error({ err: error }, 'control-plane loop failed'));

  let stopped: Promise<void> | null = null;
  return {
    config,
    icapAddress,
    metricsAddress,
    store,
    metrics,
    registration: () => registration,
    stop() {
      stopped ??= (async () => {
        stopping.abort();
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
