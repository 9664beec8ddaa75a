import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { PrivxError, type ErrorCode, type ErrorEnvelope } from '../errors.js';

interface AjvIssue {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

const BOUNDS_KEYWORDS = new Set(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties']);
const FORMAT_KEYWORDS = new Set(['format', 'pattern']);

/** `/ssh/shell` → `ssh.shell`; array indexes stay as `[0]`. */
function jsonPath(instancePath: string, extra?: unknown): string {
  const parts = instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (typeof extra === 'string') parts.push(extra);
  return parts.reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

/** Turns one Ajv issue into the PrivX code and the property it names. */
export function describeValidationIssue(issue: AjvIssue, context: string | undefined): ErrorEnvelope {
  let code: ErrorCode = 'INVALID_REQUEST_DATA';
  let property = jsonPath(issue.instancePath);
  if (issue.keyword === 'type') code = 'VALUE_INCORRECT_TYPE';
  else if (BOUNDS_KEYWORDS.has(issue.keyword)) code = 'VALUE_OUT_OF_BOUNDS';
  else if (FORMAT_KEYWORDS.has(issue.keyword)) code = 'VALUE_INCORRECT_FORMAT';
  else if (issue.keyword === 'required') {
    code = 'REQUIRED_VALUE_MISSING';
    property = jsonPath(issue.instancePath, issue.params.missingProperty);
  } else if (issue.keyword === 'additionalProperties') {
    property = jsonPath(issue.instancePath, issue.params.additionalProperty);
  }
  const where = context && context !== 'body' ? `${context} ` : '';
  // Ajv's own text for a missing property repeats its name ("rdp must have required property 'rdp'").
  const message =
    issue.keyword === 'additionalProperties'
      ? `unknown ${where}property ${property}`
      : issue.keyword === 'required'
        ? `${where}${property} is required`
        : `${where}${property || 'value'} ${issue.message ?? 'is invalid'}`;
  const envelope: ErrorEnvelope = { error_code: code, error_message: message };
  if (property) envelope.property = property;
  return envelope;
}

/** Maps Fastify's own errors (parser, limits, routing) to envelope codes by status. */
function frameworkCode(status: number): ErrorCode {
  switch (status) {
    case 404:
      return 'ROUTE_NOT_FOUND';
    case 405:
      return 'NOT_ALLOWED';
    case 413:
      return 'PAYLOAD_TOO_LARGE';
    case 415:
      return 'UNSUPPORTED_MEDIA_TYPE';
    case 429:
      return 'TOO_MANY_CONNECTIONS';
    default:
      return 'BAD_REQUEST';
  }
}

function render(reply: FastifyReply, status: number, envelope: ErrorEnvelope, headers?: Record<string, string>): FastifyReply {
  if (headers) reply.headers(headers);
  return reply.code(status).type('application/json; charset=utf-8').send(envelope);
}

/**
 * The one place a non-2xx body is made. Handlers throw {@link PrivxError}; Fastify's validation
 * and parser errors are mapped by kind; anything else is a 500 whose cause goes to the log only.
 */
export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError | PrivxError | Error, request: FastifyRequest, reply: FastifyReply) => {
      if (error instanceof PrivxError) {
        if (error.status >= 500) request.log.error({ err: error }, 'request failed');
        return render(reply, error.status, error.toEnvelope(), error.headers);
      }
      const fastifyError = error as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
      if (Array.isArray(fastifyError.validation) && fastifyError.validation.length > 0) {
        const details = fastifyError.validation.map((issue) => describeValidationIssue(issue, fastifyError.validationContext));
        const first = details[0] as ErrorEnvelope;
        return render(reply, 400, { ...first, ...(details.length > 1 ? { details } : {}) });
      }
      const status = fastifyError.statusCode;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        const message =
          fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError
            ? 'request body is not valid JSON'
            : fastifyError.message;
        return render(reply, status, { error_code: frameworkCode(status), error_message: message });
      }
      request.log.error({ err: error }, 'unexpected error');
      return render(reply, 500, { error_code: 'GENERAL_ERROR', error_message: 'internal server error' });
    });

    app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
      render(reply, 404, {
        error_code: 'ROUTE_NOT_FOUND',
        error_message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}`,
      }),
    );
  },
  { name: 'error-handler' },
);
