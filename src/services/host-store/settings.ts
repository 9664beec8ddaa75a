import { errorResponses } from '../../schemas.js';
import { ServiceOptionsSchema } from './schemas.js';
import { routeAnswer } from '../../fast-path/index.js';
import { defaultServiceOptionsAnswers } from '../../fast-path/readers/default-service-options.js';
import type { TypedApp } from '../typed-app.js';

/**
 * `/host-store/api/v1/settings/*`: the host store's read side of its settings. They are changed
 * through the settings service (`PUT /settings/api/v1/settings/host-store/default_service_options`).
 */
export function registerHostStoreSettingsRoutes(app: TypedApp): void {
  // Polled by every service: this route has a fast path (src/fast-path), its answers' `now`.
  const answers = defaultServiceOptionsAnswers(app.context.database.db);

  app.get(
    '/settings/default_service_options',
    {
      config: { permissions: ['admin', 'hosts-manage', 'service'], hotRead: answers.now },
      schema: {
        summary: 'Get the default service options',
        description: 'Changed through `PUT /settings/api/v1/settings/host-store/default_service_options`. The `ETag` is the settings version.',
        tags: ['settings'],
        response: { 200: ServiceOptionsSchema, ...errorResponses(401, 403) },
      },
    },
    routeAnswer(answers),
  );
}
