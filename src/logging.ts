import type { Writable } from 'node:stream';
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';
import type { LogLevel } from './config.js';

/** Query parameters whose values are secrets and never reach a log line. */
const SECRET_QUERY_KEYS = /^(token|code|code_verifier|state|refresh_token|access_token|password|secret|session_id|client_secret)$/i;

/**
 * A query key as the query parser reads it, or undefined when it is not valid percent-encoding.
 * Never throws: it runs inside the request serializer, where a throw would end the process.
 */
function decodedKey(key: string): string | undefined {
  if (!key.includes('%') && !key.includes('+')) return key;
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * A request URL with secret-bearing query values and config-session path segments masked. A value
 * whose key cannot be decoded is masked too (fail closed): no one can tell what such a key names.
 */
export function redactUrl(url: string): string {
  const [path = '', query] = url.split('?', 2);
  // /icap/conf/{tcid}/{sid} and /carrier/conf/{tcid}/{sid}: the session id is a one-time secret.
  const safePath = path.replace(/(\/conf\/[^/]+\/)[^/?]+/, '$1[redacted]');
  if (query === undefined) return safePath;
  const masked = query
    .split('&')
    .map((pair) => {
      const [key = '', value] = pair.split('=', 2);
      if (value === undefined) return pair;
      const decoded = decodedKey(key);
      return decoded === undefined || SECRET_QUERY_KEYS.test(decoded) ? `${key}=[redacted]` : pair;
    })
    .join('&');
  return `${safePath}?${masked}`;
}

/** The request fields a log line carries. Never throws (see {@link decodedKey}); a URL it cannot read is replaced, not logged. */
export function serializeRequest(request: { method: string; url: string; ip?: string }): { method: string; url: string; remote_address: string | undefined } {
  let url: string;
  try {
    url = redactUrl(request.url);
  } catch {
    url = '[unreadable url]';
  }
  return { method: request.method, url, remote_address: request.ip };
}

/** pino options for the control plane: JSON lines, request ids, secrets redacted. */
export function loggerOptions(level: LogLevel, stream?: Writable): FastifyServerOptions['logger'] {
  return {
    level,
    ...(stream ? { stream } : {}),
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["proxy-authorization"]',
        'req.headers["x-privgate-session"]',
        'res.headers["set-cookie"]',
        'password',
        'secret',
        '*.password',
        '*.secret',
        '*.token',
        '*.access_token',
        '*.refresh_token',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req: serializeRequest,
    },
  };
}

type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
/** A logger that can say whether a level is enabled (pino's loggers can). */
type LevelAware = FastifyBaseLogger & { isLevelEnabled(level: string): boolean };

function isLevelAware(logger: FastifyBaseLogger): logger is LevelAware {
  return typeof (logger as Partial<LevelAware>).isLevelEnabled === 'function';
}

/**
 * A request's logger that becomes a real pino child (bound to the request id) only when a line is
 * written at an enabled level. Fastify makes one per request, and creating a pino child costs more
 * than many requests do; at the usual levels most requests never write a line.
 */
class DeferredChildLogger implements FastifyBaseLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    readonly parent: LevelAware,
    readonly bindings: Bindings,
  ) {}

  #real(): FastifyBaseLogger {
    return (this.#child ??= this.parent.child(this.bindings));
  }

  #write(level: LogMethod, args: unknown[]): void {
    if (this.#child === undefined && !this.parent.isLevelEnabled(level)) return;
    const real = this.#real();
    try {
      (real[level] as (...values: unknown[]) => void).apply(real, args);
    } catch (error) {
      // A line that cannot be written (a serializer that throws) must not fail the request that
      // logs it, nor — in Fastify's request event — the process. Say that a line was lost.
      reportLostLine(real, error);
    }
  }

  get level(): string {
    return this.#child?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  fatal(...args: unknown[]): void {
    this.#write('fatal', args);
  }

  error(...args: unknown[]): void {
    this.#write('error', args);
  }

  warn(...args: unknown[]): void {
    this.#write('warn', args);
  }

  info(...args: unknown[]): void {
    this.#write('info', args);
  }

  debug(...args: unknown[]): void {
    this.#write('debug', args);
  }

  trace(...args: unknown[]): void {
    this.#write('trace', args);
  }

  silent(): void {
    // Nothing is written at level silent.
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options);
  }
}

/** Writes that a log line could not be written, without its content (which is what failed); never throws. */
export function reportLostLine(logger: FastifyBaseLogger, error: unknown): void {
  try {
    logger.error({ lost_line_error: error instanceof Error ? error.name : typeof error }, 'a log line could not be written');
  } catch {
    // Nothing left to tell it to.
  }
}

/** Whether `logger` writes lines at `level` (true for a logger that cannot tell). */
export function levelEnabled(logger: FastifyBaseLogger, level: LogMethod): boolean {
  return isLevelAware(logger) ? logger.isLevelEnabled(level) : true;
}

/** Fastify's `childLoggerFactory`: a {@link DeferredChildLogger} unless the route sets its own level or serializers. */
export function deferredChildLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  if (options.level !== undefined || options.serializers !== undefined || !isLevelAware(logger)) {
    return logger.child(bindings, options);
  }
  return new DeferredChildLogger(logger, bindings);
}
