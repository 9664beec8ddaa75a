/**
 * The policy: the persisted last good one enforced at start, then kept fresh by long-poll of the
 * control plane's feed (or polling at the refresh interval when the control plane does not hold
 * requests). Without a policy the store denies everything.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../lib/time.js';
import { nextBackoff } from './backoff.js';
import type { WebProxyConfig } from './config.js';
import { type ControlPlaneClient, ControlPlaneError, type TokenManager } from './control-plane-client.js';
import type { ControlPlaneStatus } from './control-plane-status.js';
import type { WebProxyMetrics } from './metrics.js';
import type { PolicyStore } from './policy-store.js';
import type { Registration } from './registration.js';
import type { StateDirectory } from './state.js';

/** Installs the persisted last good policy, if there is a usable one; otherwise the store keeps denying. */
export function restorePersistedPolicy(options: { state: StateDirectory; store: PolicyStore; metrics: WebProxyMetrics; logger: Logger }): void {
  const { state, store, metrics, logger } = options;
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
}

export interface PolicyFollowerOptions {
  config: Pick<WebProxyConfig, 'policy'>;
  state: StateDirectory;
  client: Pick<ControlPlaneClient, 'fetchPolicy'>;
  tokens: Pick<TokenManager, 'get' | 'invalidate'>;
  store: PolicyStore;
  metrics: WebProxyMetrics;
  controlPlane: ControlPlaneStatus;
  /** Asked to re-register when the control plane refuses the stored credentials. */
  registration: Pick<Registration, 'reRegisterWithNewSecret'>;
  logger: Logger;
  clock?: Clock;
}

export class PolicyFollower {
  readonly #options: PolicyFollowerOptions;
  readonly #clock: Clock;
  readonly #stopping = new AbortController();

  constructor(options: PolicyFollowerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Follows the feed until {@link stop}; the promise settles when the loop has ended. */
  async start(): Promise<void> {
    const { config, state, client, tokens, store, metrics, controlPlane, registration, logger } = this.#options;
    const signal = this.#stopping.signal;
    let backoff = 0;
    const wait = config.policy.longPollSeconds;
    while (!signal.aborted) {
      let token: string | undefined;
      let pause = 0;
      try {
        token = await tokens.get();
        const started = this.#clock.now().getTime();
        const answer = await client.fetchPolicy(token, store.etag, wait, signal);
        const now = this.#clock.now();
        controlPlane.noteSuccess();
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
          if (this.#clock.now().getTime() - started < wait * 500) pause = config.policy.refreshIntervalSeconds * 1000;
        }
        if (wait === 0) pause = config.policy.refreshIntervalSeconds * 1000;
      } catch (error) {
        if (signal.aborted) return;
        const status = error instanceof ControlPlaneError ? error.status : undefined;
        controlPlane.noteError('policy', error);
        if (status === 401 && token !== undefined) {
          // The access token was refused (expired, revoked, keys rotated): get a new one.
          tokens.invalidate(token);
        } else if (token === undefined && (status === 401 || status === 400) && (await registration.reRegisterWithNewSecret())) {
          continue;
        }
        backoff = nextBackoff(backoff);
        pause = backoff;
        logger.warn({ err: error, retry_in_ms: backoff }, 'policy fetch failed; enforcing the last good policy');
      }
      if (pause > 0) await sleep(pause, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Aborts the long-poll in flight and the pause between polls. */
  stop(): void {
    this.#stopping.abort();
  }
}
