import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { PrivxError, type ErrorCode, type ErrorEnvelope } from '../errors.js';
import { reportLostLine } from '../logging.js';

/** One Ajv error (Ajv runs with `verbose`, so a keyword's own schema comes along). */
export interface AjvIssue {
  keyword: string;
  instancePath: string;
  schemaPath?: string;
  params: Record<string, unknown>;
  message?: string;
  schema?: unknown;
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

/** A schema value as a reader would type it: strings bare, anything else as JSON. */
function shown(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function allowedList(values: readonly unknown[]): string {
  const listed = values.slice(0, 20).map(shown).join(', ');
  return values.length > 20 ? `${listed}, …` : listed;
}

/** The values a union of constants (TypeBox's `Union([Literal(…), …])`) allows, or undefined for any other union. */
function unionConstants(members: unknown): unknown[] | undefined {
  if (!Array.isArray(members) || members.length === 0) return undefined;
  const values: unknown[] = [];
  for (const member of members as Array<Record<string, unknown> | null>) {
    if (member !== null && typeof member === 'object' && 'const' in member) values.push(member.const);
    else if (member !== null && typeof member === 'object' && Array.isArray(member.enum)) values.push(...(member.enum as unknown[]));
    else if (member !== null && typeof member === 'object' && member.type === 'null') values.push(null);
    else return undefined;
  }
  return values;
}

/**
 * One issue in place of an `anyOf`/`oneOf` failure and the failures of its branches that Ajv lists
 * before it: a union of constants reads "must be one of A, B"; a value no branch's type fits reads
 * "must be string or null"; otherwise the failures inside the branches whose type did fit (the
 * meaningful ones: `tags[2] must be string`, not "must be null" too).
 */
function summariseUnion(union: AjvIssue, branches: AjvIssue[]): AjvIssue[] {
  const at = union.instancePath;
  const constants = unionConstants(union.schema);
  if (constants) {
    // Of the wrong type for every member (a number where names are listed), or just not one of them.
    const wrongType = (union.schema as unknown[]).every((_, member) => branches.some((issue) => issue.keyword === 'type' && issue.instancePath === at && issue.schemaPath?.startsWith(`${union.schemaPath}/${member}/`) === true));
    return [{ ...union, keyword: wrongType ? 'type' : 'enum', params: { allowedValues: constants }, message: `must be one of ${allowedList(constants)}` }];
  }
  const inside = branches.filter((issue) => !(issue.keyword === 'type' && issue.instancePath === at));
  if (inside.length > 0) return inside;
  const types = [...new Set(branches.flatMap((issue) => String(issue.params.type ?? '').split(',')).filter(Boolean))];
  return types.length > 0 ? [{ ...union, keyword: 'type', params: { type: types.join(',') }, message: `must be ${types.join(' or ')}` }] : [union];
}

/** Ajv's issues with every union failure collapsed to its meaningful message (see {@link summariseUnion}). */
export function collapseUnions(issues: readonly AjvIssue[]): AjvIssue[] {
  const collapsed: AjvIssue[] = [];
  for (const issue of issues) {
    if ((issue.keyword !== 'anyOf' && issue.keyword !== 'oneOf') || issue.schemaPath === undefined) {
      collapsed.push(issue);
      continue;
    }
    // Ajv lists a union's branch failures (and their own collapsed unions) right before it.
    const prefix = `${issue.schemaPath}/`;
    let first = collapsed.length;
    while (first > 0 && collapsed[first - 1]?.schemaPath?.startsWith(prefix) === true) first -= 1;
    collapsed.push(...summariseUnion(issue, collapsed.splice(first)));
  }
  return collapsed;
}

/** Ajv's text for a keyword, with the allowed values spelled out where Ajv leaves them out. */
function issueText(issue: AjvIssue): string {
  if (issue.keyword === 'enum' && Array.isArray(issue.params.allowedValues)) return `must be one of ${allowedList(issue.params.allowedValues)}`;
  if (issue.keyword === 'const' && 'allowedValue' in issue.params) return `must be ${shown(issue.params.allowedValue)}`;
  return issue.message ?? 'is invalid';
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
        : `${where}${property || 'value'} ${issueText(issue)}`;
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

const JSON_TYPE = 'application/json; charset=utf-8';
/** What an error answer is when making the proper one failed; a constant, so it cannot fail too. */
const LAST_RESORT_BODY = JSON.stringify({ error_code: 'GENERAL_ERROR', error_message: 'internal server error' } satisfies ErrorEnvelope);

/**
 * Sends the envelope serialized here (a string with a JSON type goes out as it is): the route's
 * response serializer cannot fail on it, and a failure there would hand the error to Fastify's
 * default handler, whose body is not the envelope.
 */
function render(reply: FastifyReply, status: number, envelope: ErrorEnvelope, headers?: Record<string, string>): FastifyReply {
  if (headers) reply.headers(headers);
  return reply.code(status).type(JSON_TYPE).send(JSON.stringify(envelope));
}

/** Logs at error level without ever throwing (the logger's serializers are the least trusted part here). */
function logError(request: FastifyRequest, error: unknown, message: string): void {
  try {
    request.log.error({ err: error }, message);
  } catch (failure) {
    reportLostLine(request.log, failure);
  }
}

/** The envelope for an error thrown by a handler, a hook, a parser or Fastify's validation. */
function handleError(error: FastifyError | PrivxError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof PrivxError) {
    if (error.status >= 500) logError(request, error, 'request failed');
    return render(reply, error.status, error.toEnvelope(), error.headers);
  }
  const fastifyError = error as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (Array.isArray(fastifyError.validation) && fastifyError.validation.length > 0) {
    const details = collapseUnions(fastifyError.validation).map((issue) => describeValidationIssue(issue, fastifyError.validationContext));
    const first = details[0] as ErrorEnvelope;
    return render(reply, 400, { ...first, ...(details.length > 1 ? { details } : {}) });
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message =
      fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError
        ? 'request body is not valid JSON'
        : String(fastifyError.message);
    return render(reply, status, { error_code: frameworkCode(status), error_message: message });
  }
  logError(request, error, 'unexpected error');
  return render(reply, 500, { error_code: 'GENERAL_ERROR', error_message: 'internal server error' });
}

/** A 500 envelope written without the route's serializer, for when making the proper answer failed. */
function lastResort(reply: FastifyReply): void {
  try {
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    reply.code(500).type(JSON_TYPE).send(LAST_RESORT_BODY);
  } catch {
    reply.raw.destroy();
  }
}

/**
 * Fastify's `frameworkErrors`: a URL that is not valid percent-encoding (400) and a path parameter
 * beyond the router's `maxParamLength` (414: the router refuses to read it, so no route or schema
 * has seen it; 414 is the status HTTP has for that). Fastify's own bodies would otherwise answer.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  try {
    reply.header('x-request-id', request.id).header('cache-control', 'no-store');
    if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
      render(reply, 414, { error_code: 'VALUE_OUT_OF_BOUNDS', error_message: 'a path parameter is too long' });
    } else if (error.code === 'FST_ERR_BAD_URL') {
      render(reply, 400, { error_code: 'BAD_REQUEST', error_message: 'the URL is not valid percent-encoding' });
    } else {
      logError(request, error, 'unexpected routing error');
      render(reply, 500, { error_code: 'GENERAL_ERROR', error_message: 'internal server error' });
    }
  } catch (failure) {
    logError(request, failure, 'answering a routing error failed');
    lastResort(reply);
  }
}

/** Statuses Node's HTTP parser errors answer with; everything else it refuses is a 400. */
const CLIENT_ERRORS: Record<string, [number, string, ErrorCode, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'BAD_REQUEST', 'the request was not received in time'],
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'PAYLOAD_TOO_LARGE', 'the request headers are too large'],
};

/**
 * The server's `clientError` (Fastify's `clientErrorHandler`): a request Node's HTTP parser refused
 * before any handler ran. Answers the envelope when the connection can still take an answer, then
 * closes it, as Node's own handler does.
 */
export function clientErrorHandler(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Duplex): void {
  try {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, reason, code, message] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'Bad Request', 'BAD_REQUEST', 'the request is not valid HTTP'];
    try {
      this.log.debug({ client_error: error.code }, 'client error');
    } catch {
      // A debug line is not worth the connection.
    }
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && inFlight?.headersSent !== true) {
      const body = JSON.stringify({ error_code: code, error_message: message } satisfies ErrorEnvelope);
      socket.write(
        `HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${JSON_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy(error);
  } catch {
    socket.destroy();
  }
}

/**
 * The boundary of the server's request event: an error thrown there (by Fastify's request set-up,
 * its logging, or the hot path) would otherwise be an uncaught exception that ends the process.
 * The request it belonged to gets a 500 envelope (or, if its answer had begun, a closed
 * connection); the cause is logged.
 */
export function answerUnhandled(log: FastifyBaseLogger, response: ServerResponse, error: unknown): void {
  try {
    log.error({ err: error }, 'unexpected error outside a route; answered 500');
  } catch (failure) {
    reportLostLine(log, failure);
  }
  try {
    if (response.headersSent || response.writableEnded) {
      response.destroy();
      return;
    }
    response.writeHead(500, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(LAST_RESORT_BODY), 'cache-control': 'no-store' });
    response.end(LAST_RESORT_BODY);
  } catch {
    response.destroy();
  }
}

/** The 404 message names the path; a hostile one is not echoed at length. */
function shownPath(url: string): string {
  const path = url.split('?', 1)[0] ?? '';
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

/**
 * The one place a non-2xx body is made. Handlers throw {@link PrivxError}; Fastify's validation
 * and parser errors are mapped by kind; anything else is a 500 whose cause goes to the log only.
 * Making the answer cannot throw past here: if it fails, a constant 500 envelope goes out.
 */
export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError | PrivxError | Error, request: FastifyRequest, reply: FastifyReply) => {
      try {
        return handleError(error, request, reply);
      } catch (failure) {
        logError(request, failure, 'rendering an error failed');
        lastResort(reply);
        return reply;
      }
    });

    app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
      render(reply, 404, { error_code: 'ROUTE_NOT_FOUND', error_message: `no route ${request.method} ${shownPath(request.url)}` }),
    );
  },
  { name: 'error-handler' },
);
