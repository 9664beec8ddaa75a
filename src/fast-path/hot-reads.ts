import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import type { Scope } from '../access.js';
import { levelEnabled, reportLostLine } from '../logging.js';
import { answerUnhandled } from '../plugins/error-handler.js';
import { readsWithoutWaiting } from './sync-reader.js';

/** A hot read's answer: the serialized 200 body and its entity tag. */
export interface HotAnswer {
  body: string;
  etag: string;
}

/**
 * The current answer when it is known without waiting; undefined when it is not (then Fastify serves
 * the request). Current means it reflects every commit that completed before the call, by any
 * connection or process: one call answers every request that had arrived by then.
 */
export type HotReader = () => HotAnswer | undefined;

/** Where a request goes when the hot path does not answer it (Fastify's handler). */
export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Marks a GET route whose 200 answer can be produced without waiting (see HotReads). The
     * route's handler must give the same answer; it still serves every request this cannot.
     */
    hotRead?: HotReader;
  }
}

/** Says, without waiting, whether an Authorization header holds a remembered, good token with one of `permissions`. */
export type RememberedAccess = (header: string | undefined, connection: object | null, permissions: readonly Scope[]) => boolean;

export interface HotReadsOptions {
  access: RememberedAccess;
  requestId: () => string;
  log: FastifyBaseLogger;
}

interface HotRoute {
  permissions: readonly Scope[];
  read: HotReader;
  /** The turn (see HotReads.#turn) `answer` was read in. */
  readIn: number;
  answer: HotAnswer | undefined;
}

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Sends a hot read's answer through the route (when the hot path left the request to it), with the same headers. */
export function replyWithAnswer(reply: FastifyReply, answer: HotAnswer): void {
  reply.header('etag', answer.etag).type(JSON_CONTENT_TYPE).send(answer.body);
}

/**
 * A route's answer both ways: `now` without waiting where the database allows it (the hot path's
 * reader, see HotReader), `read` when it must wait (PostgreSQL, or the fast path turned off).
 */
export interface HotReadable {
  now: HotReader;
  read(): Promise<HotAnswer>;
}

/**
 * The handler of a route that declares `config.hotRead: answers.now`: the same answer for every
 * request the hot path left to it. Not async: when the answer is there now the reply goes out
 * without a promise.
 */
export function routeAnswer(answers: HotReadable): (request: unknown, reply: FastifyReply) => void {
  return (_request, reply) => {
    const now = answers.now();
    if (now) replyWithAnswer(reply, now);
    // A failed read goes to the error handler (through the plain reply: the schema types only the answer).
    else answers.read().then((answer) => replyWithAnswer(reply, answer), (error: unknown) => reply.send(error));
  };
}

/**
 * Hot reads: the GET routes that services and data-plane daemons poll all the time (the default
 * service options), answered in the server's request event before Fastify builds its request,
 * reply, hooks and serializer for them. Measured on the API read benchmark, that pipeline costs
 * more CPU than everything the route itself does.
 *
 * Only the plain success case is answered here: a GET of the route's exact path with no body,
 * carrying a token this node has already verified (with a fresh revocation answer) that holds one
 * of the route's permissions, and an answer the route's reader has without waiting. Anything else
 * — no token, a token to verify or to refuse, a query string, a body, another method, a reader
 * that must wait (PostgreSQL), a server that is closing — goes to Fastify untouched, so errors,
 * 401/403 envelopes and rejection audits all come from the one route definition. The answer is the
 * route's own: same reader, same headers (`x-request-id`, `cache-control: no-store`, `etag`), and
 * at level info the same two log lines Fastify writes.
 *
 * Requests are admitted as they are parsed and answered together once the event loop has read
 * everything that was waiting (a `setImmediate`), with one read of each route's answer for all of
 * them. That read comes after every one of those requests arrived, so it is as fresh for each as a
 * read of its own, and under load it replaces one freshness check per request with one per turn
 * (measured: 17 requests per turn at 20 connections).
 */
export class HotReads {
  readonly #routes = new Map<string, HotRoute>();
  readonly #options: HotReadsOptions;
  /**
   * Admitted requests waiting for the end of the turn: route, request, response, next, and when it
   * arrived (performance.now(), taken only when request lines are logged), repeated.
   */
  #waiting: Array<HotRoute | IncomingMessage | ServerResponse | RequestHandler | number> = [];
  #closing = false;
  /** Requests answered here (for tests and diagnostics). */
  served = 0;
  /** Reads of a route's answer: one per route per turn in which that route admitted requests (for tests and diagnostics). */
  reads = 0;
  /** Turns in which admitted requests were answered. */
  #turn = 0;

  constructor(options: HotReadsOptions) {
    this.#options = options;
  }

  add(url: string, permissions: readonly Scope[], read: HotReader): void {
    if (permissions.length === 0) throw new Error(`hot read ${url} must declare permissions`);
    this.#routes.set(url, { permissions, read, readIn: 0, answer: undefined });
  }

  /** From now on every request goes to Fastify (which answers 503 while closing). */
  close(): void {
    this.#closing = true;
  }

  /**
   * Answers `request` if it is a hot read, at the end of this event-loop turn; everything else goes
   * to `next` at once, and an admitted request whose answer turns out not to be known now goes to
   * `next` then.
   */
  serve(request: IncomingMessage, response: ServerResponse, next: RequestHandler): void {
    const route = this.#admit(request);
    if (!route) {
      next(request, response);
      return;
    }
    if (this.#waiting.length === 0) setImmediate(this.#answerWaiting);
    this.#waiting.push(route, request, response, next, levelEnabled(this.#options.log, 'info') ? performance.now() : 0);
  }

  /** The hot route `request` is a plain, authorized GET of, else undefined. */
  #admit(request: IncomingMessage): HotRoute | undefined {
    if (request.method !== 'GET' || this.#closing) return undefined;
    const route = this.#routes.get(request.url ?? '');
    if (!route) return undefined;
    try {
      const authorization = plainGetAuthorization(request.rawHeaders);
      return authorization !== undefined && this.#options.access(authorization, request.socket, route.permissions) ? route : undefined;
    } catch {
      // A failure here (the token store closing, say) is not ours to report: the route's error
      // handling answers and logs it.
      return undefined;
    }
  }

  readonly #answerWaiting = (): void => {
    const waiting = this.#waiting;
    this.#waiting = [];
    const turn = ++this.#turn;
    for (let index = 0; index < waiting.length; index += 5) {
      const route = waiting[index] as HotRoute;
      const request = waiting[index + 1] as IncomingMessage;
      const response = waiting[index + 2] as ServerResponse;
      if (route.readIn !== turn) {
        route.readIn = turn;
        route.answer = this.#read(route);
      }
      const answer = route.answer;
      try {
        if (answer) this.#send(answer, request, response, waiting[index + 4] as number);
        else (waiting[index + 3] as RequestHandler)(request, response);
      } catch (error) {
        // Not expected; but one request must not leave the rest of the turn unanswered, nor (thrown
        // from a setImmediate) end the process.
        answerUnhandled(this.#options.log, response, error);
      }
    }
  };

  /** The route's answer now, or undefined (a reader that must wait or fails: the route answers instead). */
  #read(route: HotRoute): HotAnswer | undefined {
    this.reads += 1;
    try {
      return route.read();
    } catch {
      return undefined;
    }
  }

  #send(answer: HotAnswer, request: IncomingMessage, response: ServerResponse, arrived: number): void {
    this.served += 1;
    const id = this.#options.requestId();
    if (levelEnabled(this.#options.log, 'info')) logExchange(this.#options.log, id, request, response, arrived);
    response.writeHead(200, {
      'x-request-id': id,
      'cache-control': 'no-store',
      etag: answer.etag,
      'content-type': JSON_CONTENT_TYPE,
      'content-length': Buffer.byteLength(answer.body),
    });
    response.end(answer.body);
  }
}

/**
 * The Authorization header of a GET without a body, read off the raw header list: asking for
 * `request.headers` would build Node's header object, which costs more than answering. Undefined
 * — leave the request to Fastify — when there is none, more than one, or any sign of a body.
 */
function plainGetAuthorization(raw: readonly string[]): string | undefined {
  let authorization: string | undefined;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    switch (name.length) {
      case 13:
        if (name.toLowerCase() !== 'authorization') break;
        if (authorization !== undefined) return undefined;
        authorization = raw[index + 1];
        break;
      case 14:
        if (name.toLowerCase() === 'content-length' && raw[index + 1] !== '0') return undefined;
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return undefined;
        break;
    }
  }
  return authorization;
}

/** Fastify's two per-request lines, with the same bindings and serializers; the response time counts from `arrived` (0: now). */
function logExchange(log: FastifyBaseLogger, id: string, request: IncomingMessage, response: ServerResponse, arrived: number): void {
  const started = arrived || performance.now();
  const child = log.child({ reqId: id });
  // A line that cannot be written must not cost the answer (nor, in the 'finish' event, the process).
  try {
    child.info({ req: { method: request.method, url: request.url, ip: request.socket.remoteAddress } }, 'incoming request');
  } catch (error) {
    reportLostLine(log, error);
  }
  response.once('finish', () => {
    try {
      child.info({ res: { statusCode: response.statusCode }, responseTime: performance.now() - started }, 'request completed');
    } catch (error) {
      reportLostLine(log, error);
    }
  });
}

/**
 * Registers every route declaring `config.hotRead` (GET, with permissions) with `hotReads` where
 * the database answers without waiting, and stops answering when the server starts closing.
 */
export const hotReadsPlugin = fp<{ hotReads: HotReads }>(
  async (app: FastifyInstance, { hotReads }) => {
    // Only where reads need no waiting (SQLite's read connection): on PostgreSQL a request would be
    // held for a turn only to be handed on.
    const registers = readsWithoutWaiting(app.context.database.db);
    app.addHook('onRoute', (route: RouteOptions) => {
      const config = route.config as { hotRead?: HotReader; permissions?: readonly Scope[] } | undefined;
      if (!config?.hotRead) return;
      if ([route.method].flat().some((method) => method !== 'GET')) throw new Error(`hot read ${route.url} must be a GET route`);
      if (!registers) return;
      hotReads.add(route.url, config.permissions ?? [], config.hotRead);
    });
    app.addHook('preClose', (done) => {
      hotReads.close();
      done();
    });
  },
  { name: 'hot-reads' },
);
