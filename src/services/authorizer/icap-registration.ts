import { Type } from '@sinclair/typebox';
import { errorResponses } from '../../schemas.js';
import { LoginThrottle } from '../auth/throttle.js';
import { registerWebProxy } from './use-cases.js';
import type { TypedApp } from '../typed-app.js';

const RegisterIn = Type.Object(
  {
    trusted_client_id: Type.String({ minLength: 1, maxLength: 200 }),
    secret: Type.String({ minLength: 1, maxLength: 500 }),
    csr: Type.String({ minLength: 1, maxLength: 16_384 }),
  },
  { additionalProperties: false },
);
const RegisterOut = Type.Object({
  trusted_client_id: Type.String(),
  oauth_client_id: Type.String(),
  oauth_client_secret: Type.String(),
  client_secret: Type.String(),
  certificate: Type.String(),
  ca_certificate: Type.String(),
});

/** `/icap/register`: a web proxy registers with the one-time secret of its downloaded config. */
export function registerIcapRegistrationRoutes(app: TypedApp): void {
  const deps = { context: app.context, tokens: app.tokens };
  const throttle = new LoginThrottle(app.context);

  app.post(
    '/icap/register',
    {
      // Public: the one-time registration secret from the config file is the credential.
      config: { public: true },
      schema: {
        summary: 'Register a web proxy with its one-time secret and a CSR; answers its credentials and certificate',
        description:
          'Public route authenticated by the registration secret of a downloaded config. The secret works once, ' +
          'from an address inside the client’s subnets, for an enabled ICAP client that is not registered yet ' +
          '(unless allow_repeated_registration). Failures answer 403 and count towards the login throttle of the caller’s address.',
        tags: ['icap'],
        body: RegisterIn,
        response: { 200: RegisterOut, ...errorResponses(400, 403, 429) },
      },
    },
    async (request) => registerWebProxy(deps, throttle, request.body, request.ip),
  );
}
