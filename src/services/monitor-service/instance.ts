import { PrivxError } from '../../errors.js';
import { errorResponses } from '../../schemas.js';
import { InstanceStatusOut } from './schemas.js';
import { thisNodeHealth } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

const tags = ['monitor-service'];

/** `/instance/*`: the instance's health as this node sees it; termination is refused. */
export function registerInstanceRoutes(app: TypedApp): void {
  const context = app.context;

  app.get(
    '/instance/status',
    {
      config: { permissions: ['admin', 'logs-view'] },
      schema: {
        summary: "The instance's status as this node sees it: database reachable, version, uptime",
        tags,
        response: { 200: InstanceStatusOut, ...errorResponses(401, 403) },
      },
    },
    async () => thisNodeHealth(context),
  );

  app.post(
    '/instance/exit',
    {
      config: { permissions: ['admin'] },
      schema: {
        summary: 'Terminate PrivX instances: not done over the API by privgate (405)',
        description: 'privgate nodes are stopped and restarted by their service manager; this endpoint changes nothing.',
        tags,
        response: { ...errorResponses(401, 403, 405) },
      },
    },
    async () => {
      throw new PrivxError(405, 'NOT_ALLOWED', 'privgate nodes are not terminated over the API; stop them through their service manager');
    },
  );
}
