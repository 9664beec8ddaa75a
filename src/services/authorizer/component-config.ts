import { stringify } from 'smol-toml';

/**
 * The carrier and extender configuration files, as served (TOML) by
 * `GET /authorizer/api/v1/carrier/conf/{trusted_client_id}/{session_id}` and
 * `GET /authorizer/api/v1/extender/conf/{trusted_client_id}/{session_id}`. Same layout rules as
 * the web-proxy file (web-proxy-config.ts): snake_case keys, optional keys left out when unset,
 * a one-time registration secret. See docs/component-configs.md.
 */

/** What both files share: where the control plane is and how this component enrols. */
interface ComponentConfigBase {
  /** Layout version of this file; bumps on incompatible changes. */
  format_version: 1;
  /** `carrier` or `extender`. */
  component: 'carrier' | 'extender';
  control_plane: {
    /** Base URL of the control plane (its public URL), without a trailing slash. */
    url: string;
    /** PEM of the CA that signed the control plane's HTTPS certificate; absent when TLS is terminated elsewhere. */
    ca_certificate?: string;
    /** `POST` here for OAuth2 tokens (password grant, once registered). */
    token_url: string;
  };
  registration: {
    /** The trusted client this component is. */
    trusted_client_id: string;
    /** The trusted client's name. */
    name: string;
    /** One-time registration secret; a later config download replaces it. */
    secret: string;
    /** RFC 3339 time after which the secret no longer registers. */
    secret_expires: string;
  };
  /** The CA that signs this component's certificate (certificate only, never its key). */
  ca: {
    id: string;
    certificate: string;
    /** Where its CRL is published (DER; append `?format=pem` for PEM). */
    crl_url: string;
  };
  log: { level: string };
  /** Directory for the component's key, certificate and credentials, relative to the config file. */
  state_directory: string;
}

export interface CarrierConfigFile extends ComponentConfigBase {
  component: 'carrier';
  carrier: {
    /** The web proxy this carrier sends its browser traffic through (`web_proxy_address`); absent when unset. */
    web_proxy_address?: string;
    /** Its port; absent when unset. */
    web_proxy_port?: number;
    /** Extenders this carrier reaches targets through (`extender_address`). */
    extender_address: string[];
    /** URL patterns routed through an extender (`web_proxy_extender_route_patterns`). */
    web_proxy_extender_route_patterns: string[];
    routing_prefix: string;
  };
}

export interface ExtenderConfigFile extends ComponentConfigBase {
  component: 'extender';
  extender: {
    /** The name relays are addressed by (`routing_prefix`). */
    routing_prefix: string;
    /** Addresses the extender is reachable at (`extender_address`). */
    extender_address: string[];
    /** `extender_mode` as written; absent when unset. */
    mode?: string;
    /** The extender's SSH endpoint (`extender_ssh_address` / `extender_ssh_port`); absent when unset. */
    ssh_address?: string;
    ssh_port?: number;
    /** The extender's public key as written (`extender_public_key`); absent when unset. */
    public_key?: string;
  };
}

/** What a config is built from: the installation, the client and a fresh secret. */
export interface ComponentConfigInput {
  publicUrl: string;
  controlPlaneCaPem: string | undefined;
  client: {
    id: string;
    name: string;
    web_proxy_address: string;
    web_proxy_port: string;
    extender_address: string[];
    web_proxy_extender_route_patterns: string[];
    routing_prefix: string;
    extender_mode: string;
    extender_ssh_address: string;
    extender_ssh_port: number;
    extender_public_key: string;
  };
  registrationSecret: string;
  registrationSecretExpires: string;
  /** The CA and the URL prefix of its CA routes (`icap` for carriers, `extender` for extenders). */
  ca: { id: string; certificatePem: string; routePrefix: 'icap' | 'extender' };
}

function base(input: ComponentConfigInput, component: 'carrier' | 'extender'): ComponentConfigBase {
  const url = input.publicUrl.replace(/\/+$/, '');
  const controlPlane: ComponentConfigBase['control_plane'] = { url, token_url: `${url}/auth/api/v1/oauth/token` };
  if (input.controlPlaneCaPem) controlPlane.ca_certificate = input.controlPlaneCaPem;
  return {
    format_version: 1,
    component,
    control_plane: controlPlane,
    registration: {
      trusted_client_id: input.client.id,
      name: input.client.name,
      secret: input.registrationSecret,
      secret_expires: input.registrationSecretExpires,
    },
    ca: {
      id: input.ca.id,
      certificate: input.ca.certificatePem,
      crl_url: `${url}/authorizer/api/v1/${input.ca.routePrefix}/cas/${encodeURIComponent(input.ca.id)}/crl`,
    },
    log: { level: 'info' },
    state_directory: './state',
  };
}

export function carrierConfig(input: ComponentConfigInput): CarrierConfigFile {
  const carrier: CarrierConfigFile['carrier'] = {
    extender_address: input.client.extender_address,
    web_proxy_extender_route_patterns: input.client.web_proxy_extender_route_patterns,
    routing_prefix: input.client.routing_prefix,
  };
  if (input.client.web_proxy_address) carrier.web_proxy_address = input.client.web_proxy_address;
  if (input.client.web_proxy_port) carrier.web_proxy_port = Number(input.client.web_proxy_port);
  return { ...base(input, 'carrier'), component: 'carrier', carrier };
}

export function extenderConfig(input: ComponentConfigInput): ExtenderConfigFile {
  const extender: ExtenderConfigFile['extender'] = { routing_prefix: input.client.routing_prefix, extender_address: input.client.extender_address };
  if (input.client.extender_mode) extender.mode = input.client.extender_mode;
  if (input.client.extender_ssh_address) extender.ssh_address = input.client.extender_ssh_address;
  if (input.client.extender_ssh_port) extender.ssh_port = input.client.extender_ssh_port;
  if (input.client.extender_public_key) extender.public_key = input.client.extender_public_key;
  return { ...base(input, 'extender'), component: 'extender', extender };
}

/** A carrier or extender config document as TOML text. */
export function renderComponentConfig(config: CarrierConfigFile | ExtenderConfigFile): string {
  const header = `# privgate ${config.component} configuration. Holds a one-time registration secret: keep it private.\n`;
  return header + stringify(config) + '\n';
}
