import { stringify } from 'smol-toml';

/**
 * The web-proxy configuration file, as served (TOML) by
 * `GET /authorizer/api/v1/icap/conf/{trusted_client_id}/{session_id}` and read by the web-proxy
 * daemon. Keys are snake_case TOML keys; optional keys are left out of the file when unset.
 *
 * Start-up of a web proxy with this file:
 * 1. If `state_directory` holds no credentials yet, create a key pair and a CSR and
 *    `POST registration.register_url` with `{trusted_client_id, secret, csr}`; store the answer
 *    (OAuth credentials, certificate) in `state_directory`. The secret works once.
 * 2. Get access tokens with the password grant at `control_plane.token_url`:
 *    Basic `oauth_client_id:oauth_client_secret`, `username` = trusted client id,
 *    `password` = `client_secret`.
 * 3. Long-poll `control_plane.policy_url` (`If-None-Match` + `?wait=policy.long_poll_seconds`),
 *    and report decisions in batches to `control_plane.audit_url`.
 */
export interface WebProxyConfigFile {
  /** Layout version of this file; bumps on incompatible changes. */
  format_version: 1;
  control_plane: {
    /** Base URL of the control plane (its public URL), without a trailing slash. */
    url: string;
    /** PEM of the CA that signed the control plane's HTTPS certificate; absent when TLS is terminated elsewhere (use the system trust store). */
    ca_certificate?: string;
    /** `POST` here for OAuth2 tokens (password grant). */
    token_url: string;
    /** `GET` the web policy feed (`WebPolicy` of src/lib/web-policy.ts). */
    policy_url: string;
    /** `POST` audit event batches (`{events: [...]}`). */
    audit_url: string;
  };
  registration: {
    /** The trusted client this proxy is; also the `username` of the password grant. */
    trusted_client_id: string;
    /** One-time registration secret; a later config download replaces it. */
    secret: string;
    /** RFC 3339 time after which the secret no longer registers. */
    secret_expires: string;
    /** `POST` here to register (public route, authenticated by the secret). */
    register_url: string;
  };
  web_proxy_ca: {
    /** Id of the CA (see `GET /authorizer/api/v1/icap/cas/{id}`). */
    id: string;
    /** PEM of the CA that signs web-proxy certificates (certificate only, never its key). */
    certificate: string;
    /** Where its CRL is published (DER; append `?format=pem` for PEM). */
    crl_url: string;
  };
  icap: {
    /** Address the ICAP server listens on; default 127.0.0.1. */
    listen_address: string;
    /** ICAP port; default 1344. */
    listen_port: number;
    /** ICAP service name for REQMOD (`icap://host:port/<name>`). */
    reqmod_service: string;
    /** ICAP service name for RESPMOD. */
    respmod_service: string;
  };
  web_proxy: {
    /** The HTTP proxy this ICAP server serves (the trusted client's `web_proxy_address`); absent when unset. */
    address?: string;
    /** Its port; absent when unset. */
    port?: number;
  };
  policy: {
    /** Fetch the policy at least this often even without long-poll answers, seconds. */
    refresh_interval_seconds: number;
    /** `?wait=` value for long-polls of the policy feed, seconds (0..60). */
    long_poll_seconds: number;
  };
  log: {
    /** fatal | error | warn | info | debug | trace */
    level: string;
  };
  /** Directory for the proxy's key, certificate and credentials, relative to the config file. */
  state_directory: string;
}

export const ICAP_DEFAULT_LISTEN_ADDRESS = '127.0.0.1';
export const ICAP_DEFAULT_LISTEN_PORT = 1344;
export const ICAP_REQMOD_SERVICE = 'privgate-reqmod';
export const ICAP_RESPMOD_SERVICE = 'privgate-respmod';
export const POLICY_REFRESH_INTERVAL_SECONDS = 300;
export const POLICY_LONG_POLL_SECONDS = 30;

export interface WebProxyConfigInput {
  publicUrl: string;
  controlPlaneCaPem: string | undefined;
  trustedClientId: string;
  registrationSecret: string;
  registrationSecretExpires: string;
  webProxyCa: { id: string; certificatePem: string };
  webProxyAddress: string;
  webProxyPort: string;
}

/** Builds the config document for one trusted client. */
export function webProxyConfig(input: WebProxyConfigInput): WebProxyConfigFile {
  const base = input.publicUrl.replace(/\/+$/, '');
  const authorizer = `${base}/authorizer/api/v1`;
  const controlPlane: WebProxyConfigFile['control_plane'] = {
    url: base,
    token_url: `${base}/auth/api/v1/oauth/token`,
    policy_url: `${authorizer}/icap/policy`,
    audit_url: `${base}/monitor-service/api/v1/auditevents/batch`,
  };
  if (input.controlPlaneCaPem) controlPlane.ca_certificate = input.controlPlaneCaPem;
  const webProxy: WebProxyConfigFile['web_proxy'] = {};
  if (input.webProxyAddress) webProxy.address = input.webProxyAddress;
  if (input.webProxyPort) webProxy.port = Number(input.webProxyPort);
  return {
    format_version: 1,
    control_plane: controlPlane,
    registration: {
      trusted_client_id: input.trustedClientId,
      secret: input.registrationSecret,
      secret_expires: input.registrationSecretExpires,
      register_url: `${authorizer}/icap/register`,
    },
    web_proxy_ca: {
      id: input.webProxyCa.id,
      certificate: input.webProxyCa.certificatePem,
      crl_url: `${authorizer}/icap/cas/${encodeURIComponent(input.webProxyCa.id)}/crl`,
    },
    icap: {
      listen_address: ICAP_DEFAULT_LISTEN_ADDRESS,
      listen_port: ICAP_DEFAULT_LISTEN_PORT,
      reqmod_service: ICAP_REQMOD_SERVICE,
      respmod_service: ICAP_RESPMOD_SERVICE,
    },
    web_proxy: webProxy,
    policy: { refresh_interval_seconds: POLICY_REFRESH_INTERVAL_SECONDS, long_poll_seconds: POLICY_LONG_POLL_SECONDS },
    log: { level: 'info' },
    state_directory: './state',
  };
}

/** The config document as TOML text. */
export function renderWebProxyConfig(config: WebProxyConfigFile): string {
  const header = '# privgate web-proxy configuration. Holds a one-time registration secret: keep it private.\n';
  return header + stringify(config) + '\n';
}
