/**
 * The performance fast path, in one place (see README.md here): what serves the hot GETs on SQLite
 * without Fastify's request pipeline and without waiting for Kysely. Everything the rest of the
 * app needs from it comes through this module; a route only says "this route has a fast path"
 * (`config.hotRead`) and names its reader from ./readers.
 */
import type { FastifyBaseLogger } from 'fastify';
import { rememberedPrincipal, type AccessTokenVerifier } from '../plugins/authenticate.js';
import { HotReads } from './hot-reads.js';

export { HotReads, hotReadsPlugin, replyWithAnswer, routeAnswer, type HotAnswer, type HotReadable, type HotReader } from './hot-reads.js';
export { fastPathServerFactory } from './server.js';
export { committedDataVersion, readsWithoutWaiting, sinceLastCommit } from './sync-reader.js';

/**
 * The app's HotReads: a request is admitted when `tokens` already knows its bearer token is good
 * (a remembered check, no waiting: TokenService.checkRemembered, which on SQLite re-reads a stale
 * revocation state on the read connection) and it holds one of the route's permissions.
 */
export function createHotReads(tokens: AccessTokenVerifier, requestId: () => string, log: FastifyBaseLogger): HotReads {
  return new HotReads({
    access: (header, connection, permissions) => rememberedPrincipal(tokens, header, connection, permissions) !== undefined,
    requestId,
    log,
  });
}
