import path from 'node:path';

/** Log levels pino understands; `silent` turns logging off (tests). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One typed configuration for a control-plane node, built from flags, environment and defaults. */
export interface Config {
  /** Address to listen on. */
  host: string;
  port: number;
  /** Directory for the SQLite file, generated TLS material and the initial admin password. */
  dataDir: string;
  /** `postgres://…` switches storage to PostgreSQL; undefined means the embedded SQLite file. */
  databaseUrl: string | undefined;
  /** PostgreSQL schema to use (tests give each run its own); undefined = the server's default. */
  databaseSchema: string | undefined;
  tls: { mode: 'self-managed'; extraNames: string[] } | { mode: 'files'; certFile: string; keyFile: string } | { mode: 'off' };
  /** URL by which clients (and web proxies) reach this installation. */
  publicUrl: string;
  logLevel: LogLevel;
  /** Largest request body accepted, bytes. */
  bodyLimit: number;
  /** Simultaneous client connections a node accepts; more are closed at once. */
  maxConnections: number;
  /** Access-token lifetime, seconds (PrivX clients re-authenticate shortly before it runs out). */
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** How long a web-proxy config session id stays downloadable. */
  icapConfSessionTtlSeconds: number;
  /** How long a signed web-session token is valid. */
  webSessionTtlSeconds: number;
  /** Password for the built-in admin on first start; generated when absent. */
  initialAdminPassword: string | undefined;
  /** Failed logins tolerated per account / per client IP inside `throttleWindowSeconds`. */
  throttle: { perAccount: number; perAddress: number; windowSeconds: number };
  /**
   * The performance fast path (src/fast-path: hot reads before Fastify, SQLite's synchronous read
   * connection and its WAL-index check). Off (`PRIVGATE_FAST_PATH=off`): every request goes through
   * Fastify and every read through Kysely, as on PostgreSQL. Same answers either way.
   */
  fastPath: boolean;
  /**
   * The settings-backed values whose environment variable was set, by variable name
   * (`PRIVGATE_ACCESS_TOKEN_TTL`, …). Each overrides the stored setting it backs (see
   * docs/settings.md); a variable left unset leaves the setting in force.
   */
  settingsOverrides: Readonly<Record<string, number>>;
  /**
   * Audit-event export (docs/audit-trail.md, "Export"): a JSON-lines file, and RFC 5424 syslog
   * over `tcp://HOST:PORT` or `tls://HOST:PORT` with an optional CA file for TLS. Unset: none.
   */
  auditExport: { jsonlFile: string | undefined; syslogUrl: string | undefined; syslogCaFile: string | undefined };
}

/**
 * Built-in values of the settings-backed configuration: the fields above when their variable is
 * unset, and the settings' defaults until the first PUT (src/services/settings/registry.ts).
 */
export const BUILT_IN_SETTINGS = {
  accessTokenTtlSeconds: 300,
  refreshTokenTtlSeconds: 8 * 3600,
  icapConfSessionTtlSeconds: 300,
  webSessionTtlSeconds: 3600,
  throttlePerAccount: 5,
  throttlePerAddress: 50,
  throttleWindowSeconds: 300,
  auditRetentionDays: 0,
} as const;

/** The environment variables that override a setting (docs/settings.md), positive integers except where noted. */
export const SETTINGS_ENV = [
  'PRIVGATE_ACCESS_TOKEN_TTL',
  'PRIVGATE_REFRESH_TOKEN_TTL',
  'PRIVGATE_ICAP_CONF_SESSION_TTL',
  'PRIVGATE_WEB_SESSION_TTL',
  'PRIVGATE_THROTTLE_PER_ACCOUNT',
  'PRIVGATE_THROTTLE_PER_ADDRESS',
  'PRIVGATE_THROTTLE_WINDOW',
  /** Days; 0 keeps audit events forever. */
  'PRIVGATE_AUDIT_RETENTION_DAYS',
] as const;

export interface ConfigInput {
  listen?: string;
  dataDir?: string;
  databaseUrl?: string;
  databaseSchema?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsSan?: string[];
  insecureHttp?: boolean;
  publicUrl?: string;
  /** As typed on the command line; checked against {@link LOG_LEVELS} by {@link loadConfig}. */
  logLevel?: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses `HOST:PORT`, `[v6]:PORT` or `:PORT`. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  if (!match) throw new ConfigError(`--listen must be HOST:PORT, got "${value}"`);
  const port = Number(match[3]);
  if (port > 65535) throw new ConfigError(`--listen port out of range: ${port}`);
  const host = match[1] ?? (match[2] || '0.0.0.0');
  return { host, port };
}

/**
 * The log level from `--log-level` (named `source`) or `PRIVGATE_LOG_LEVEL`, checked here: pino
 * refuses an unknown level only when the logger is made, with a message that names neither.
 */
function logLevel(value: string, source: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  throw new ConfigError(`${source} must be one of ${LOG_LEVELS.join(', ')}; got ${JSON.stringify(value)}`);
}

/** `PRIVGATE_FAST_PATH`: `on` (the default) or `off`. */
function onOff(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'on') return true;
  if (raw === 'off') return false;
  throw new ConfigError(`${name} must be on or off; got ${JSON.stringify(raw)}`);
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, minimum = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < minimum) throw new ConfigError(`${name} must be ${minimum === 0 ? 'a non-negative' : 'a positive'} integer`);
  return value;
}

/** The settings-backed variables that are set, checked as {@link positiveInt} does. */
function settingsOverrides(env: NodeJS.ProcessEnv): Record<string, number> {
  const overrides: Record<string, number> = {};
  for (const name of SETTINGS_ENV) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    overrides[name] = positiveInt(env, name, 0, name === 'PRIVGATE_AUDIT_RETENTION_DAYS' ? 0 : 1);
  }
  return overrides;
}

/** `PRIVGATE_AUDIT_*`: the export sinks, checked here so a typo stops start-up rather than silently exporting nothing. */
function auditExport(env: NodeJS.ProcessEnv): Config['auditExport'] {
  const jsonlFile = env.PRIVGATE_AUDIT_JSONL_FILE || undefined;
  const syslogUrl = env.PRIVGATE_AUDIT_SYSLOG_URL || undefined;
  const syslogCaFile = env.PRIVGATE_AUDIT_SYSLOG_CA || undefined;
  if (syslogUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(syslogUrl);
    } catch {
      url = undefined;
    }
    const port = url?.port === '' ? 1 : Number(url?.port);
    if (
      url === undefined ||
      (url.protocol !== 'tcp:' && url.protocol !== 'tls:') ||
      url.hostname === '' ||
      url.username !== '' ||
      url.password !== '' ||
      url.search !== '' ||
      (url.pathname !== '' && url.pathname !== '/') ||
      !(port >= 1 && port <= 65535)
    ) {
      throw new ConfigError('PRIVGATE_AUDIT_SYSLOG_URL must be tcp://HOST:PORT or tls://HOST:PORT');
    }
    if (syslogCaFile !== undefined && url.protocol !== 'tls:') throw new ConfigError('PRIVGATE_AUDIT_SYSLOG_CA needs a tls:// PRIVGATE_AUDIT_SYSLOG_URL');
  } else if (syslogCaFile !== undefined) {
    throw new ConfigError('PRIVGATE_AUDIT_SYSLOG_CA needs PRIVGATE_AUDIT_SYSLOG_URL');
  }
  return {
    jsonlFile: jsonlFile === undefined ? undefined : path.resolve(jsonlFile),
    syslogUrl,
    syslogCaFile: syslogCaFile === undefined ? undefined : path.resolve(syslogCaFile),
  };
}

/** Builds the config from CLI flags, then environment, then defaults. */
export function loadConfig(input: ConfigInput = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const { host, port } = parseListen(input.listen ?? env.PRIVGATE_LISTEN ?? '127.0.0.1:8443');
  const dataDir = path.resolve(input.dataDir ?? env.PRIVGATE_DATA_DIR ?? 'data');
  const databaseUrl = input.databaseUrl ?? (env.DATABASE_URL || undefined);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('--database-url must be a postgres:// URL');
  }
  if ((input.tlsCert === undefined) !== (input.tlsKey === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together');
  }
  const tls: Config['tls'] = input.insecureHttp
    ? { mode: 'off' }
    : input.tlsCert !== undefined && input.tlsKey !== undefined
      ? { mode: 'files', certFile: path.resolve(input.tlsCert), keyFile: path.resolve(input.tlsKey) }
      : { mode: 'self-managed', extraNames: input.tlsSan ?? [] };
  const scheme = tls.mode === 'off' ? 'http' : 'https';
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const publicUrl = (input.publicUrl ?? env.PRIVGATE_PUBLIC_URL ?? `${scheme}://${urlHost}:${port}`).replace(/\/+$/, '');
  try {
    new URL(publicUrl);
  } catch {
    throw new ConfigError(`--public-url is not a URL: ${publicUrl}`);
  }
  return {
    host,
    port,
    dataDir,
    databaseUrl,
    databaseSchema: input.databaseSchema ?? (env.PRIVGATE_DATABASE_SCHEMA || undefined),
    tls,
    publicUrl,
    logLevel:
      input.logLevel !== undefined
        ? logLevel(input.logLevel, '--log-level')
        : env.PRIVGATE_LOG_LEVEL
          ? logLevel(env.PRIVGATE_LOG_LEVEL, 'PRIVGATE_LOG_LEVEL')
          : 'info',
    bodyLimit: positiveInt(env, 'PRIVGATE_BODY_LIMIT', 1024 * 1024),
    maxConnections: positiveInt(env, 'PRIVGATE_MAX_CONNECTIONS', 4096),
    accessTokenTtlSeconds: positiveInt(env, 'PRIVGATE_ACCESS_TOKEN_TTL', BUILT_IN_SETTINGS.accessTokenTtlSeconds),
    refreshTokenTtlSeconds: positiveInt(env, 'PRIVGATE_REFRESH_TOKEN_TTL', BUILT_IN_SETTINGS.refreshTokenTtlSeconds),
    icapConfSessionTtlSeconds: positiveInt(env, 'PRIVGATE_ICAP_CONF_SESSION_TTL', BUILT_IN_SETTINGS.icapConfSessionTtlSeconds),
    webSessionTtlSeconds: positiveInt(env, 'PRIVGATE_WEB_SESSION_TTL', BUILT_IN_SETTINGS.webSessionTtlSeconds),
    initialAdminPassword: env.PRIVGATE_ADMIN_PASSWORD || undefined,
    throttle: {
      perAccount: positiveInt(env, 'PRIVGATE_THROTTLE_PER_ACCOUNT', BUILT_IN_SETTINGS.throttlePerAccount),
      perAddress: positiveInt(env, 'PRIVGATE_THROTTLE_PER_ADDRESS', BUILT_IN_SETTINGS.throttlePerAddress),
      windowSeconds: positiveInt(env, 'PRIVGATE_THROTTLE_WINDOW', BUILT_IN_SETTINGS.throttleWindowSeconds),
    },
    fastPath: onOff(env, 'PRIVGATE_FAST_PATH', true),
    settingsOverrides: settingsOverrides(env),
    auditExport: auditExport(env),
  };
}
