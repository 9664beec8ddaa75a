import type { Writable } from 'node:stream';
import type { FastifyServerOptions } from 'fastify';
import type { LogLevel } from './config.js';

/** Query parameters whose values are secrets and never reach a log line. */
const SECRET_QUERY_KEYS = /^(token|code|code_verifier|state|refresh_token|access_token|password|secret|session_id|client_secret)$/i;

/** A request URL with secret-bearing query values and config-session path segments masked. */
export function redactUrl(url: string): string {
  const [path = '', query] = url.split('?', 2);
  // /icap/conf/{tcid}/{sid} and /carrier/conf/{tcid}/{sid}: the session id is a one-time secret.
  const safePath = path.replace(/(\/conf\/[^/]+\/)[^/?]+/, '$1[redacted]');
  if (query === undefined) return safePath;
  const masked = query
    .split('&')
    .map((pair) => {
      const [key = '', value] = pair.split('=', 2);
      return value !== undefined && SECRET_QUERY_KEYS.test(decodeURIComponent(key)) ? `${key}=[redacted]` : pair;
    })
    .join('&');
  return `${safePath}?${masked}`;
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
      req: (request: { method: string; url: string; ip?: string; id?: string }) => ({
        method: request.method,
        url: redactUrl(request.url),
        remote_address: request.ip,
      }),
    },
  };
}
