/**
 * The web proxy's configuration: the `web-proxy-config.toml` the control plane hands out
 * (`WebProxyConfigFile`), checked and resolved, plus the few settings that only exist as
 * command-line flags (metrics address, overrides for the ICAP address and log level).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'smol-toml';
import { DEFAULT_MAX_UPLOAD_BYTES } from './content-rules.js';

/** Largest request body buffered for inspection; larger bodies count as file uploads. */
export const MAX_INSPECT_BYTES = 1024 * 1024;

/** Where `/healthz` and `/metrics` listen unless `--metrics-listen` says otherwise. */
export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9344';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type WebProxyLogLevel = (typeof LOG_LEVELS)[number];

export class WebProxyConfigError extends Error {
  override readonly name = 'WebProxyConfigError';
}

/** Flags of `privgate web-proxy` that add to or override the file. */
export interface WebProxyFlags {
  /** `HOST:PORT` for `/healthz` and `/metrics`. */
  metricsListen?: string;
  /** `HOST:PORT` overriding `[icap] listen_address` / `listen_port`. */
  icapListen?: string;
  logLevel?: string;
  /** Overrides `state_directory` (resolved against the working directory). */
  stateDir?: string;
}

/** The resolved configuration the daemon runs with. */
export interface WebProxyConfig {
  /** Absolute path of the TOML file. */
  configPath: string;
  /** Absolute path of the state directory (credentials, key, certificate, last good policy). */
  stateDirectory: string;
  controlPlane: {
    url: string;
    /** PEM; when present it is the ONLY trust anchor for the control plane's HTTPS. */
    caCertificate: string | undefined;
    tokenUrl: string;
    policyUrl: string;
    auditUrl: string;
  };
  registration: {
    trustedClientId: string;
    secret: string;
    secretExpires: string;
    registerUrl: string;
  };
  webProxyCa: { id: string; certificate: string; crlUrl: string };
  icap: { host: string; port: number; reqmodService: string; respmodService: string };
  policy: { refreshIntervalSeconds: number; longPollSeconds: number };
  /**
   * `[content]`, a privgate extension of the file: `max_upload_bytes` is the upload rule's limit
   * (request bodies of any type larger than this are blocked when `web.file_transfer` is off).
   */
  content: { maxUploadBytes: number };
  logLevel: WebProxyLogLevel;
  metrics: { host: string; port: number };
}

/** Parses `HOST:PORT` or `[v6]:PORT`. */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new WebProxyConfigError(`${what} must be HOST:PORT, got "${value}"`);
  return { host: (match[1] ?? match[2])!, port };
}

function section(document: Record<string, unknown>, name: string): Record<string, unknown> {
  const value = document[name];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new WebProxyConfigError(`[${name}] is missing`);
  return value as Record<string, unknown>;
}

function text(table: Record<string, unknown>, where: string, key: string, options: { optional?: boolean } = {}): string {
  const value = table[key];
  if (value === undefined && options.optional) return '';
  if (typeof value !== 'string' || (value.length === 0 && !options.optional)) throw new WebProxyConfigError(`${where}.${key} must be a non-empty string`);
  return value;
}

function integer(table: Record<string, unknown>, where: string, key: string, fallback: number, minimum: number, maximum: number): number {
  const value = table[key];
  if (value === undefined) return fallback;
  const number = typeof value === 'bigint' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < minimum || number > maximum) {
    throw new WebProxyConfigError(`${where}.${key} must be an integer between ${minimum} and ${maximum}`);
  }
  return number;
}

function url(value: string, where: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new WebProxyConfigError(`${where} is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new WebProxyConfigError(`${where} must be an http(s) URL`);
  return value;
}

function serviceName(value: string, where: string): string {
  if (!/^[A-Za-z0-9._~-]+$/.test(value)) throw new WebProxyConfigError(`${where} must be a plain ICAP service name`);
  return value;
}

/** Checks a parsed TOML document and resolves it against the file's location and the flags. */
export function resolveWebProxyConfig(document: Record<string, unknown>, configPath: string, flags: WebProxyFlags = {}): WebProxyConfig {
  const formatVersion = document.format_version;
  if (formatVersion !== undefined && Number(formatVersion) !== 1) {
    throw new WebProxyConfigError(`format_version ${String(formatVersion)} is not supported (expected 1)`);
  }
  const controlPlane = section(document, 'control_plane');
  const registration = section(document, 'registration');
  const ca = section(document, 'web_proxy_ca');
  const icap = document.icap === undefined ? {} : section(document, 'icap');
  const policy = document.policy === undefined ? {} : section(document, 'policy');
  const log = document.log === undefined ? {} : section(document, 'log');
  const content = document.content === undefined ? {} : section(document, 'content');

  const caCertificate = text(controlPlane, 'control_plane', 'ca_certificate', { optional: true });
  if (caCertificate && !caCertificate.includes('-----BEGIN CERTIFICATE-----')) {
    throw new WebProxyConfigError('control_plane.ca_certificate must be a PEM certificate');
  }
  const icapListen = flags.icapListen ? parseHostPort(flags.icapListen, '--icap-listen') : undefined;
  const metricsListen = parseHostPort(flags.metricsListen ?? DEFAULT_METRICS_LISTEN, '--metrics-listen');
  const level = flags.logLevel ?? (typeof log.level === 'string' ? log.level : 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new WebProxyConfigError(`log level must be one of ${LOG_LEVELS.join(', ')}`);
  const absoluteConfig = path.resolve(configPath);
  const stateSetting = typeof document.state_directory === 'string' && document.state_directory !== '' ? document.state_directory : './state';
  const stateDirectory = flags.stateDir ? path.resolve(flags.stateDir) : path.resolve(path.dirname(absoluteConfig), stateSetting);

  return {
    configPath: absoluteConfig,
    stateDirectory,
    controlPlane: {
      url: url(text(controlPlane, 'control_plane', 'url'), 'control_plane.url'),
      caCertificate: caCertificate || undefined,
      tokenUrl: url(text(controlPlane, 'control_plane', 'token_url'), 'control_plane.token_url'),
      policyUrl: url(text(controlPlane, 'control_plane', 'policy_url'), 'control_plane.policy_url'),
      auditUrl: url(text(controlPlane, 'control_plane', 'audit_url'), 'control_plane.audit_url'),
    },
    registration: {
      trustedClientId: text(registration, 'registration', 'trusted_client_id'),
      secret: text(registration, 'registration', 'secret', { optional: true }),
      secretExpires: text(registration, 'registration', 'secret_expires', { optional: true }),
      registerUrl: url(text(registration, 'registration', 'register_url'), 'registration.register_url'),
    },
    webProxyCa: {
      id: text(ca, 'web_proxy_ca', 'id', { optional: true }),
      certificate: text(ca, 'web_proxy_ca', 'certificate', { optional: true }),
      crlUrl: text(ca, 'web_proxy_ca', 'crl_url', { optional: true }),
    },
    icap: {
      host: icapListen?.host ?? (typeof icap.listen_address === 'string' && icap.listen_address ? icap.listen_address : '127.0.0.1'),
      port: icapListen?.port ?? integer(icap, 'icap', 'listen_port', 1344, 1, 65535),
      reqmodService: serviceName(typeof icap.reqmod_service === 'string' ? icap.reqmod_service : 'privgate-reqmod', 'icap.reqmod_service'),
      respmodService: serviceName(typeof icap.respmod_service === 'string' ? icap.respmod_service : 'privgate-respmod', 'icap.respmod_service'),
    },
    policy: {
      refreshIntervalSeconds: integer(policy, 'policy', 'refresh_interval_seconds', 300, 1, 86_400),
      longPollSeconds: integer(policy, 'policy', 'long_poll_seconds', 30, 0, 60),
    },
    content: { maxUploadBytes: integer(content, 'content', 'max_upload_bytes', DEFAULT_MAX_UPLOAD_BYTES, 0, MAX_INSPECT_BYTES) },
    logLevel: level as WebProxyLogLevel,
    metrics: metricsListen,
  };
}

/** Reads and resolves the config file. Throws {@link WebProxyConfigError} with the offending key. */
export function loadWebProxyConfig(configPath: string, flags: WebProxyFlags = {}): WebProxyConfig {
  let source: string;
  try {
    source = fs.readFileSync(configPath, 'utf8');
  } catch (error) {
    throw new WebProxyConfigError(`cannot read ${configPath}: ${(error as Error).message}`);
  }
  let document: Record<string, unknown>;
  try {
    document = parse(source) as Record<string, unknown>;
  } catch (error) {
    throw new WebProxyConfigError(`${configPath} is not valid TOML: ${(error as Error).message.split('\n')[0]}`);
  }
  return resolveWebProxyConfig(document, configPath, flags);
}
