import { Type } from '@sinclair/typebox';
import { principalOf } from '../../plugins/authenticate.js';
import { errorResponses, IdParam } from '../../schemas.js';
import type { TypedApp } from '../typed-app.js';
import { openWebSession, revokeWebSessionAs } from './use-cases.js';

const SessionIn = Type.Object(
  {
    host_id: Type.String({ minLength: 1, maxLength: 200 }),
    principal: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);
const SessionOut = Type.Object({ session_id: Type.String(), token: Type.String(), expires: Type.String() });
const Params = Type.Object({ session_id: IdParam });

/** `/icap/sessions`: short-lived, revocable web sessions (ES256 tokens the web proxy verifies). */
export function registerWebSessionRoutes(app: TypedApp): void {
  const deps = { context: app.context, tokens: app.tokens };

  app.post(
    '/icap/sessions',
    {
      // Installation-wide for now (per-host roles and access groups are not modelled): web-access
      // or hosts-manage opens a session to any WEB host principal; privx-admin passes any-of.
      config: { permissions: ['web-access', 'hosts-manage'] },
      schema: {
        summary: 'Open a web session to a WEB host as one of its principals',
        description:
          'Needs web-access, hosts-manage or privx-admin (per-host roles and access groups are not modelled yet). ' +
          'The token is an ES256 JWT (aud privgate-web-proxy) verified by web proxies with the policy feed’s session_keys.',
        tags: ['icap'],
        body: SessionIn,
        response: { 201: SessionOut, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const session = await openWebSession(deps, principalOf(request), request.body, request.ip);
      return reply.code(201).send(session);
    },
  );

  app.delete(
    '/icap/sessions/:session_id',
    {
      // Any principal may ask; whether it may revoke THIS session is an ownership rule on the
      // object (its own session, or privx-admin), checked by revokeWebSessionAs, not a permission.
      config: { permissions: ['user'] },
      schema: {
        summary: 'Revoke a web session (its own user or an admin); web proxies learn it from the policy feed',
        tags: ['icap'],
        params: Params,
        response: { 200: Type.Object({}), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      await revokeWebSessionAs(deps, principalOf(request), request.params.session_id, request.ip);
      return {};
    },
  );
}
