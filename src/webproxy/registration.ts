/**
 * Registration with the control plane: the trusted client's credentials in the state directory,
 * or, on first start, a CSR sent with the config's one-time secret until the control plane answers.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { createCertificateSigningRequest } from '../lib/pki.js';
import { systemClock, type Clock } from '../lib/time.js';
import { nextBackoff } from './backoff.js';
import type { WebProxyConfig } from './config.js';
import { type ControlPlaneClient, ControlPlaneError } from './control-plane-client.js';
import type { ControlPlaneStatus } from './control-plane-status.js';
import { secretFingerprint, type StateDirectory, type StoredCredentials } from './state.js';

export type RegistrationState = 'registered' | 'pending' | 'refused';

export interface RegistrationOptions {
  config: Pick<WebProxyConfig, 'registration' | 'controlPlane' | 'stateDirectory'>;
  state: StateDirectory;
  client: Pick<ControlPlaneClient, 'register'>;
  controlPlane: ControlPlaneStatus;
  logger: Logger;
  clock?: Clock;
  /** Called once new credentials are stored (tokens of the old ones are useless). */
  onRegistered: () => void;
}

export class Registration {
  readonly #options: RegistrationOptions;
  readonly #clock: Clock;
  readonly #stopping = new AbortController();
  /** Fingerprints of config secrets already tried after a refusal: each works once. */
  readonly #triedSecrets = new Set<string>();
  #credentials: StoredCredentials | null;
  #state: RegistrationState;

  /** Reads the stored credentials; those of another trusted client are ignored. */
  constructor(options: RegistrationOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    const { config, logger } = options;
    let credentials = options.state.readCredentials();
    if (credentials && credentials.trusted_client_id !== config.registration.trustedClientId) {
      logger.warn({ stored: credentials.trusted_client_id, configured: config.registration.trustedClientId }, 'the state directory belongs to another trusted client; registering anew');
      credentials = null;
    }
    this.#credentials = credentials;
    this.#state = credentials ? 'registered' : 'pending';
  }

  get credentials(): StoredCredentials | null {
    return this.#credentials;
  }

  get state(): RegistrationState {
    return this.#state;
  }

  /**
   * Registers unless credentials are stored; true once registered, false when refused for good
   * (the state becomes `refused`) or stopped first.
   */
  async start(): Promise<boolean> {
    if (this.#credentials) return true;
    const ok = await this.register();
    if (!ok && !this.#stopping.signal.aborted) this.#state = 'refused';
    return ok;
  }

  /** Ends retries and their pauses; a registration in flight is not interrupted. */
  stop(): void {
    this.#stopping.abort();
  }

  /** Registers with the config's one-time secret; true on success, false when refused for good. */
  async register(): Promise<boolean> {
    const { config, state, client, controlPlane, logger } = this.#options;
    const { trustedClientId, secret } = config.registration;
    let backoff = 0;
    while (!this.#stopping.signal.aborted) {
      try {
        const request = await createCertificateSigningRequest({ commonName: `web-proxy-${trustedClientId}`.slice(0, 64) });
        const answer = await client.register(trustedClientId, secret, request.csrPem);
        const stored: StoredCredentials = {
          trusted_client_id: answer.trusted_client_id,
          oauth_client_id: answer.oauth_client_id,
          oauth_client_secret: answer.oauth_client_secret,
          client_secret: answer.client_secret,
          registered_at: this.#clock.now().toISOString(),
          registration_secret_sha256: secretFingerprint(secret),
          control_plane_url: config.controlPlane.url,
        };
        state.writeRegistration({ credentials: stored, privateKeyPem: request.privateKeyPem, certificatePem: answer.certificate, caCertificatePem: answer.ca_certificate });
        this.#credentials = stored;
        this.#state = 'registered';
        this.#options.onRegistered();
        controlPlane.noteSuccess();
        logger.info({ trusted_client_id: stored.trusted_client_id, state_directory: config.stateDirectory }, 'registered with the control plane');
        return true;
      } catch (error) {
        controlPlane.noteError('register', error);
        if (error instanceof ControlPlaneError && (error.status === 403 || error.status === 400)) {
          logger.error({ err: error }, 'registration refused: download a new web-proxy config (its secret works once and expires) and restart');
          return false;
        }
        backoff = nextBackoff(backoff);
        logger.warn({ err: error, retry_in_ms: backoff }, 'registration failed; retrying');
        await sleep(backoff, undefined, { signal: this.#stopping.signal }).catch(() => undefined);
      }
    }
    return false;
  }

  /** After the control plane refused our credentials: a config with an unused secret may re-register. */
  async reRegisterWithNewSecret(): Promise<boolean> {
    const { config, logger } = this.#options;
    const secret = config.registration.secret;
    const credentials = this.#credentials;
    if (!secret || !credentials) return false;
    const fingerprint = secretFingerprint(secret);
    if (fingerprint === credentials.registration_secret_sha256 || this.#triedSecrets.has(fingerprint)) return false;
    const expires = Date.parse(config.registration.secretExpires);
    if (!Number.isNaN(expires) && expires <= this.#clock.now().getTime()) return false;
    this.#triedSecrets.add(fingerprint);
    logger.warn('the control plane refused the stored credentials; registering again with the config’s new secret');
    return this.register();
  }
}
