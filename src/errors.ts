/**
 * The PrivX error envelope and the closed list of error codes privgate answers with.
 *
 * The first block is the part of the enum published in the PrivX API reference (every service
 * shares it) that privgate produces; the enum's other codes (CONFIGURATION_ERROR, OUT_OF_RESOURCES,
 * MAX_LOAD, DATABASE_ERROR, CACHE_ERROR, INTRA_SERVICE_COMMUNICATION_ERROR) are left out because
 * nothing here produces them and no PrivX client keys on them. The second holds the codes PrivX
 * services use beyond the enum that clients depend on — the Terraform provider treats any code
 * containing `NOT_FOUND` as "object deleted". test/lib/errors-registry.test.ts fails on a code
 * nothing produces.
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
  'TOO_MANY_CONNECTIONS',
] as const;

export const PRIVGATE_ERROR_CODES = [
  'OBJECT_NOT_FOUND',
  'ROUTE_NOT_FOUND',
  'UNAUTHORIZED',
  'INVALID_TOKEN',
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

/**
 * The HTTP statuses privgate answers each code with (the registry; the throw sites pass the status
 * themselves). A code with several statuses is answered with each in a different situation.
 */
export const ERROR_STATUSES: Readonly<Record<ErrorCode, readonly number[]>> = {
  GENERAL_ERROR: [500],
  // 408 for a request Node's parser timed out; 400 also for any other 4xx Fastify raises that has no code of its own.
  BAD_REQUEST: [400, 408],
  PERMISSION_DENIED: [403],
  INVALID_REQUEST_DATA: [400],
  REQUIRED_VALUE_MISSING: [400],
  // 414 for a path parameter longer than the router reads.
  VALUE_OUT_OF_BOUNDS: [400, 414],
  VALUE_INCORRECT_TYPE: [400],
  VALUE_INCORRECT_FORMAT: [400],
  // 409 from duplicate() (a name or username taken); 400 for a principal listed twice in one host document. See duplicate().
  VALUE_DUPLICATE: [409, 400],
  TOO_MANY_CONNECTIONS: [429],
  OBJECT_NOT_FOUND: [404],
  ROUTE_NOT_FOUND: [404],
  UNAUTHORIZED: [401],
  INVALID_TOKEN: [401],
  INVALID_GRANT: [400],
  // 401 on the token endpoint (RFC 6749 §5.2); 400 from the authorize endpoint (unknown client_id or redirect_uri).
  INVALID_CLIENT: [401, 400],
  UNSUPPORTED_GRANT_TYPE: [400],
  // 431 for request headers too large.
  PAYLOAD_TOO_LARGE: [413, 431],
  UNSUPPORTED_MEDIA_TYPE: [415],
  CONFLICT: [409],
  NOT_ALLOWED: [405],
};

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

/**
 * A value that must be unique is taken: 409 VALUE_DUPLICATE. PrivX's API reference documents
 * VALUE_DUPLICATE among its 400 answers (it lists no 409); the PrivX clients key on the code only
 * (any status >= 400 is an error to them). privgate answers 409 here, as its tests and README say.
 */
export function duplicate(property: string, message = `${property} already exists`): PrivxError {
  return new PrivxError(409, 'VALUE_DUPLICATE', message, { property });
}

export function unauthorized(message = 'missing, invalid or expired access token', code: ErrorCode = 'UNAUTHORIZED'): PrivxError {
  return new PrivxError(401, code, message, { headers: { 'www-authenticate': 'Bearer realm="privgate"' } });
}

export function forbidden(message = 'the access token lacks a required permission'): PrivxError {
  return new PrivxError(403, 'PERMISSION_DENIED', message);
}
