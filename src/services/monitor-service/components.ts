import { Type } from '@sinclair/typebox';
import { notFound } from '../../errors.js';
import { errorResponses, ListResponse } from '../../schemas.js';
import { ComponentOut } from './schemas.js';
import { components } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

const tags = ['monitor-service'];
const HostnameParams = Type.Object({ hostname: Type.String({ minLength: 1, maxLength: 255 }) });

/** `/components`: component health (this node and the registered data-plane clients). */
export function registerComponentRoutes(app: TypedApp): void {
  const context = app.context;

  app.get(
    '/components',
    {
      config: { permissions: ['admin', 'logs-view'] },
      schema: {
        summary: 'Component status: this control-plane node, and the registered web proxies, extenders and carriers',
        description:
          'Only this node is listed among control-plane nodes: nodes sharing the database do not register themselves. ' +
          'A data-plane client is listed once registered; its liveness is not tracked (`status: unknown`).',
        tags,
        response: { 200: ListResponse(ComponentOut), ...errorResponses(401, 403) },
      },
    },
    async () => {
      const items = await components(context);
      return { count: items.length, items };
    },
  );

  app.get(
    '/components/:hostname',
    {
      config: { permissions: ['admin', 'logs-view'] },
      schema: {
        summary: 'The status of one component, by hostname (a data-plane client by its name)',
        tags,
        params: HostnameParams,
        response: { 200: ComponentOut, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const found = (await components(context)).find((component) => component.hostname === request.params.hostname);
      if (!found) throw notFound('component', 'hostname');
      return found;
    },
  );
}
