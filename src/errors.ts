/**
 * The PrivX error envelope and the closed list of error codes privgate answers with.
 *
 * The first block is the enum published in the PrivX API reference (every service shares it);
 * the second holds the codes PrivX services use beyond it that clients depend on — the Terraform
 * provider treats any code containing `NOT_FOUND` as "object deleted".
 */
export const PRIVX_ERROR_CODES = [
  'GENERAL_ERROR',
  'BAD_REQUEST',
  'PERMISSION_DENIED',
  'INVALID_REQUEST_DATA',
  'REQUIRED_VALUE_MISSING',
  'VALUE_OUT_OF_BOUNDS',
  'VALUE_INCORRECT_TYPE',
  'VALUE_INCORRECT_FORMAT',
  'VALUE_DUPLICATE',
  'CONFIGURATION_ERROR',
  'OUT_OF_RESOURCES',
  'MAX_LOAD',
  'TOO_MANY_CONNECTIONS',
  'DATABASE_ERROR',
  'CACHE_ERROR',
  'INTRA_SERVICE_COMMUNICATION_ERROR',
] as const;

export const PRIVGATE_ERROR_CODES = [
  'OBJECT_NOT_FOUND',
  'ROUTE_NOT_FOUND',
  'UNAUTHORIZED',
  'INVALID_TOKEN',
  'TOKEN_EXPIRED',
  'INVALID_GRANT',
  'INVALID_CLIENT',
  'UNSUPPORTED_GRANT_TYPE',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'CONFLICT',
  'NOT_ALLOWED',
] as const;

export type ErrorCode = (typeof PRIVX_ERROR_CODES)[number] | (typeof PRIVGATE_ERROR_CODES)[number];

export const ERROR_CODES: readonly ErrorCode[] = [...PRIVX_ERROR_CODES, ...PRIVGATE_ERROR_CODES];

/** The JSON body of every non-2xx answer. */
export interface ErrorEnvelope {
  error_code: ErrorCode;
  error_message: string;
  property?: string;
  details?: ErrorEnvelope[];
}

/**
 * The one error type handlers throw. The error-handler plugin renders it as the envelope with
 * `status`; anything else thrown becomes a 500 GENERAL_ERROR whose cause is only logged.
 */
export class PrivxError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly property: string | undefined;
  readonly details: ErrorEnvelope[] | undefined;
  /** Extra response headers, e.g. `WWW-Authenticate` on 401 or `Retry-After` on 429. */
  readonly headers: Record<string, string> | undefined;

  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    options: { property?: string; details?: ErrorEnvelope[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'PrivxError';
    this.status = status;
    this.code = code;
    this.property = options.property;
    this.details = options.details;
    this.headers = options.headers;
  }

  toEnvelope(): ErrorEnvelope {
    const envelope: ErrorEnvelope = { error_code: this.code, error_message: this.message };
    if (this.property !== undefined) envelope.property = this.property;
    if (this.details !== undefined) envelope.details = this.details;
    return envelope;
  }
}

/** 404 for an object that does not exist (or that the caller may not know exists). */
export function notFound(what: string, property?: string): PrivxError {
  return new PrivxError(404, 'OBJECT_NOT_FOUND', `${what} not found`, property ? { property } : {});
}

/** 400 with a property naming the offending field. */
export function invalid(code: ErrorCode, message: string, property?: string): PrivxError {
  return new PrivxError(400, code, message, property ? { property } : {});
}

/** 409/400-style duplicate. PrivX answers VALUE_DUPLICATE with 400; clients key on the code. */
export function duplicate(property: string, message = `${property} already exists`): PrivxError {
  return new PrivxError(409, 'VALUE_DUPLICATE', message, { property });
}

export function unauthorized(message = 'missing, invalid or expired access token', code: ErrorCode = 'UNAUTHORIZED'): PrivxError {
  return new PrivxError(401, code, message, { headers: { 'www-authenticate': 'Bearer realm="privgate"' } });
}

export function forbidden(message = 'the access token lacks a required permission'): PrivxError {
  return new PrivxError(403, 'PERMISSION_DENIED', message);
}
