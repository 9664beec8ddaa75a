import { Type } from '@sinclair/typebox';
import { VERSION } from '../version.js';
import type { TypedApp } from './typed-app.js';

const StatusResponse = Type.Object({
  variant: Type.String(),
  version: Type.String(),
  api_version: Type.String(),
  status: Type.String(),
  status_message: Type.String(),
  app_id: Type.String(),
  'server-mode': Type.String(),
  status_details: Type.Array(Type.Object({ k: Type.String(), v: Type.String() })),
  start_time: Type.String(),
});

/** `GET <prefix>/status`, answered with or without a token, as every PrivX service does. */
export function registerStatusRoute(app: TypedApp, appId: string): void {
  app.get(
    '/status',
    {
      config: { public: true },
      schema: { summary: `${appId} service status`, tags: [appId], response: { 200: StatusResponse } },
    },
    async () => ({
      variant: 'privgate',
      version: VERSION,
      api_version: 'v1',
      status: 'ok',
      status_message: 'OK',
      app_id: appId,
      'server-mode': 'RUN',
      status_details: [
        { k: 'database', v: app.context.database.dialect },
        { k: 'node', v: process.version },
      ],
      start_time: app.context.startTime.toISOString(),
    }),
  );
}
