import { errorResponses } from '../../schemas.js';
import { ClockOut } from './schemas.js';
import type { TypedApp } from '../typed-app.js';

const tags = ['monitor-service'];

/** `/time`: the server clock (PrivX clients compare theirs with it). */
export function registerTimeRoutes(app: TypedApp): void {
  const context = app.context;

  app.get(
    '/time',
    {
      config: { permissions: ['user'] },
      schema: { summary: "The server's current time (UTC)", tags, response: { 200: ClockOut, ...errorResponses(401) } },
    },
    async () => ({ time_utc: context.clock.now().toISOString() }),
  );
}
