import type { FastifyReply } from 'fastify';
import { errorResponses } from '../../schemas.js';
import { formatEtag } from '../settings/repository.js';
import type { ServiceOptions } from '../../lib/service-options.js';
import { readDefaultServiceOptions, readDefaultServiceOptionsNow } from './repository.js';
import { ServiceOptionsSchema } from './schemas.js';
import { replyWithAnswer, type HotAnswer } from '../../fast-path/hot-reads.js';
import { readsWithoutWaiting } from '../../fast-path/sync-reader.js';
import type { TypedApp } from '../typed-app.js';

/**
 * `/host-store/api/v1/settings/*`: the host store's read side of its settings. They are changed
 * through the settings service (`PUT /settings/api/v1/settings/host-store/default_service_options`).
 */
export function registerHostStoreSettingsRoutes(app: TypedApp): void {
  const db = app.context.database.db;

  /**
   * The answer for a state, serialized once per state: the current value is still asked of the
   * database on every request (see readSectionNow), only its serialization is reused. A stored
   * value is parsed into a new object whenever its text changes, and a PUT of the same value bumps
   * the version, so a changed setting always misses. The value is complete and shaped by the
   * section's defaults (see readSection), so plain JSON is the documented shape. Kept as a string:
   * Node sends a string body in one write with the head.
   */
  let last: { options: ServiceOptions; version: number; answer: HotAnswer } | undefined;
  const answerFor = ({ options, version }: { options: ServiceOptions; version: number }): HotAnswer => {
    if (last?.options !== options || last.version !== version) {
      last = { options, version, answer: { body: JSON.stringify(options), etag: formatEtag(String(version)) } };
    }
    return last.answer;
  };
  // Synchronous on SQLite: polled by every service, so also answered as a hot read there.
  const hotRead = (): HotAnswer | undefined => {
    const now = readDefaultServiceOptionsNow(db);
    return now && answerFor(now);
  };

  app.get(
    '/settings/default_service_options',
    {
      config: { permissions: ['admin', 'hosts-manage', 'service'], hotRead: readsWithoutWaiting(db) ? hotRead : undefined },
      schema: {
        summary: 'Get the default service options',
        description: 'Changed through `PUT /settings/api/v1/settings/host-store/default_service_options`. The `ETag` is the settings version.',
        tags: ['settings'],
        response: { 200: ServiceOptionsSchema, ...errorResponses(401, 403) },
      },
    },
    // Not async: when the read completes synchronously the reply goes out without a promise.
    (_request, reply) => {
      const now = hotRead();
      if (now) replyWithAnswer(reply, now);
      else readDefaultServiceOptions(db).then((state) => replyWithAnswer(reply, answerFor(state)), (error: unknown) => sendError(reply, error));
    },
  );
}

/** A failed read, to the error handler (through the plain reply: the schema types only the answer). */
function sendError(reply: FastifyReply, error: unknown): void {
  reply.send(error);
}
