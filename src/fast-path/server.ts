import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { FastifyBaseLogger, FastifyServerFactory } from 'fastify';
import { answerUnhandled } from '../plugins/error-handler.js';
import type { HotReads } from './hot-reads.js';

/**
 * Fastify's `serverFactory`: our own HTTP(S) server, set up with Fastify's own timeouts as Fastify
 * would set up the server it creates, whose request event offers each request to the hot reads
 * first (see HotReads) and hands everything else to Fastify. `hotReads()` is asked per request
 * (the app makes HotReads after the server); while it answers undefined — the fast path is off,
 * or not made yet — every request goes straight to Fastify.
 */
export function fastPathServerFactory(
  tls: { key: string; cert: string } | undefined,
  hotReads: () => HotReads | undefined,
  log: () => FastifyBaseLogger,
): FastifyServerFactory {
  return (handler, factoryOptions) => {
    const settings = factoryOptions as { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number; maxRequestsPerSocket?: number };
    const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
      try {
        const hot = hotReads();
        if (hot) hot.serve(request, response, handler);
        else handler(request, response);
      } catch (error) {
        // Thrown in the request event, it would end the process; it ends this request instead.
        answerUnhandled(log(), response, error);
      }
    };
    const server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
    server.keepAliveTimeout = settings.keepAliveTimeout ?? server.keepAliveTimeout;
    server.requestTimeout = settings.requestTimeout ?? server.requestTimeout;
    server.setTimeout(settings.connectionTimeout ?? 0);
    if (settings.maxRequestsPerSocket) server.maxRequestsPerSocket = settings.maxRequestsPerSocket;
    return server;
  };
}
