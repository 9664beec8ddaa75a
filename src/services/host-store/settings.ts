import type { FastifyInstance } from 'fastify';
import { errorResponses } from '../../schemas.js';
import { formatEtag } from '../settings/repository.js';
import type { ServiceOptions } from '../../lib/service-options.js';
import { readDefaultServiceOptions, readDefaultServiceOptionsNow } from './repository.js';
import { ServiceOptionsSchema } from './schemas.js';

/**
 * `/host-store/api/v1/settings/*`: the host store's read side of its settings. They are changed
 * through the settings service (`PUT /settings/api/v1/settings/host-store/default_service_options`).
 */
export function registerHostStoreSettingsRoutes(app: FastifyInstance): void {
  const db = app.context.database.db;

  app.get(
    '/settings/default_service_options',
    {
      config: { permissions: ['admin', 'hosts-manage', 'service'] },
      schema: {
        summary: 'Get the default service options',
        description: 'Changed through `PUT /settings/api/v1/settings/host-store/default_service_options`. The `ETag` is the settings version.',
        tags: ['settings'],
        response: { 200: ServiceOptionsSchema, ...errorResponses(401, 403) },
      },
    },
    // Not async: on SQLite the read completes synchronously and the reply goes out without a promise.
    (_request, reply) => {
      const send = ({ options, version }: { options: ServiceOptions; version: number }) => reply.header('etag', formatEtag(String(version))).send(options);
      const now = readDefaultServiceOptionsNow(db);
      if (now) send(now);
      else readDefaultServiceOptions(db).then(send, (error: unknown) => reply.send(error));
    },
  );
}
