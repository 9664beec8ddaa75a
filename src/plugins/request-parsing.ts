import type { FastifyInstance, preValidationHookHandler, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import { PrivxError } from '../errors.js';

function makeAjv(options: Options): Ajv {
  // verbose: an error carries its keyword's schema, so a failed union of constants can list them
  // (see the error handler). It only adds to error objects; passing validation is unchanged.
  const ajv = new Ajv({ strict: false, allErrors: false, useDefaults: true, verbose: true, ...options });
  (addFormats as unknown as (ajv: Ajv) => void)(ajv);
  return ajv;
}

/**
 * Where a NUL character hides in a parsed request part, as a property path (`id`, `services[0].address`).
 * PostgreSQL cannot store U+0000 in text and SQLite truncates at it in places, so no text carrying one
 * is accepted anywhere; without this a `%00` in a path parameter reached the database as a 500.
 */
export function findNul(root: unknown): string | undefined {
  // Iterative: a hostile body may nest arrays thousands deep, which must not overflow the stack.
  const pending: Array<[unknown, string]> = [[root, '']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path] = next;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return path || '(value)';
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) pending.push([value[i], `${path}[${i}]`]);
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, item] = entries[i] as [string, unknown];
        const here = path ? `${path}.${key}` : key;
        if (key.includes('\u0000')) return here;
        pending.push([item, here]);
      }
    }
  }
  return undefined;
}

/**
 * How deep a JSON body may nest. PrivX objects nest a handful of levels; a body nested thousands
 * deep inside a property a schema leaves open overflows the stack of every recursive reader after
 * the parser (JSON.stringify into the database, the proto-poisoning scan, serializers).
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether JSON `text` nests arrays and objects deeper than `limit`. One pass over the characters,
 * skipping string contents; a body no longer than `limit` cannot, so most bodies are not scanned.
 * Text that is not JSON may be miscounted, which is harmless: the parser refuses it anyway.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  if (text.length <= limit) return false;
  let depth = 0;
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (char === 0x22 /* " */) {
      for (index += 1; index < text.length; index += 1) {
        const inString = text.charCodeAt(index);
        if (inString === 0x5c /* \ */) index += 1;
        else if (inString === 0x22) break;
      }
    } else if (char === 0x5b /* [ */ || char === 0x7b /* { */) {
      depth += 1;
      if (depth > limit) return true;
    } else if (char === 0x5d /* ] */ || char === 0x7d /* } */) {
      depth -= 1;
    }
  }
  return false;
}

/**
 * Request bodies are validated strictly (no coercion, unknown keys rejected by the schemas), while
 * path and query strings — which arrive as text — are coerced to the schema's types.
 */
export const requestParsingPlugin = fp(
  async (app: FastifyInstance) => {
    const strict = makeAjv({ coerceTypes: false, removeAdditional: false });
    const lenient = makeAjv({ coerceTypes: 'array', removeAdditional: false });
    app.setValidatorCompiler(({ schema, httpPart }) => {
      const ajv = httpPart === 'body' ? strict : lenient;
      return ajv.compile(schema) as ReturnType<Parameters<FastifyInstance['setValidatorCompiler']>[0]>;
    });

    const rejectNul: preValidationHookHandler = (request, _reply, done) => {
      // A NUL reaches params and query only percent-encoded (the HTTP parser refuses a raw one), so
      // a URL without `%00` needs no walk; most requests carry no body.
      const inUrl = request.raw.url?.includes('%00') === true;
      const property =
        (inUrl ? (findNul(request.params) ?? findNul(request.query)) : undefined) ?? (request.body === undefined ? undefined : findNul(request.body));
      done(
        property === undefined
          ? undefined
          : new PrivxError(400, 'VALUE_INCORRECT_FORMAT', 'text must not contain NUL characters', { property }),
      );
    };
    // Only routes that take input get the check: a GET without path parameters or a query schema
    // reads nothing from the request but its headers.
    app.addHook('onRoute', (route: RouteOptions) => {
      const schema = (route.schema ?? {}) as { params?: unknown; querystring?: unknown; body?: unknown };
      const methods = [route.method].flat();
      const takesInput =
        schema.params !== undefined ||
        schema.querystring !== undefined ||
        schema.body !== undefined ||
        /[:*]/.test(route.url) ||
        methods.some((method) => method !== 'GET' && method !== 'HEAD');
      if (takesInput) route.preValidation = [rejectNul, ...[route.preValidation ?? []].flat()];
    });

    // PrivX clients send `Content-Type: application/json` on GETs and empty bodies too.
    const parseJson = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const text = body as string;
      if (text.trim() === '') {
        done(null, undefined);
        return;
      }
      if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
        done(new PrivxError(400, 'VALUE_OUT_OF_BOUNDS', `request body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
        return;
      }
      void parseJson(request, text, done); // the default parser answers through done, synchronously
    });
  },
  { name: 'request-parsing' },
);
