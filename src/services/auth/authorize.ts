import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { PrivxError } from '../../errors.js';
import { hashPassword, keyedHash, randomToken, verifyPassword } from '../../lib/secrets.js';
import { addSeconds, timestamp } from '../../lib/time.js';
import { errorResponses } from '../../schemas.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import type { GrantContext } from './grants/types.js';
import { isAllowedRedirect, PKCE_VALUE } from './oauth-clients.js';

const LOGIN_REQUEST_TTL_SECONDS = 600;
const AUTHORIZATION_CODE_TTL_SECONDS = 60;

// Compared against when the user does not exist, so a failed lookup costs as much as a wrong password.
let dummyPasswordHash: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  if (!dummyPasswordHash) dummyPasswordHash = hashPassword(randomToken(16));
  return dummyPasswordHash;
}

/** `GET /oauth/authorize` and `POST /login`: the user half of authorization code + PKCE. */
export function registerAuthorizeRoutes(app: FastifyInstance, { context, throttle }: GrantContext): void {
  app.get(
    '/oauth/authorize',
    {
      config: { public: true },
      schema: {
        summary: 'Start an authorization-code login; answers 307 with a login token in Location',
        tags: ['auth'],
        querystring: Type.Object({
          client_id: Type.String({ maxLength: 200 }),
          redirect_uri: Type.String({ maxLength: 2000 }),
          response_type: Type.String({ maxLength: 50 }),
          state: Type.String({ minLength: 1, maxLength: 1024 }),
          code_challenge: Type.String({ maxLength: 200 }),
          code_challenge_method: Type.String({ maxLength: 20 }),
          user_agent: Type.Optional(Type.String({ maxLength: 1000 })),
        }),
        response: { 307: Type.Null(), ...errorResponses(400) },
      },
    },
    async (request, reply) => {
      const query = request.query as { client_id: string; redirect_uri: string; response_type: string; state: string; code_challenge: string; code_challenge_method: string };
      if (!isAllowedRedirect(query.client_id, query.redirect_uri)) {
        throw new PrivxError(400, 'INVALID_CLIENT', 'unknown client_id or redirect_uri', { property: 'redirect_uri' });
      }
      if (query.response_type !== 'code') throw new PrivxError(400, 'INVALID_REQUEST_DATA', 'response_type must be code', { property: 'response_type' });
      if (query.code_challenge_method !== 'S256') throw new PrivxError(400, 'INVALID_REQUEST_DATA', 'code_challenge_method must be S256', { property: 'code_challenge_method' });
      if (!PKCE_VALUE.test(query.code_challenge)) throw new PrivxError(400, 'VALUE_INCORRECT_FORMAT', 'code_challenge is malformed', { property: 'code_challenge' });
      const token = randomToken(32);
      const now = context.clock.now();
      await context.database.db
        .insertInto('login_requests')
        .values({
          token_hash: keyedHash(token, context.secretKey),
          client_id: query.client_id,
          redirect_uri: query.redirect_uri,
          state: query.state,
          code_challenge: query.code_challenge,
          created: timestamp(now),
          expires: timestamp(addSeconds(now, LOGIN_REQUEST_TTL_SECONDS)),
          used: null,
        })
        .execute();
      return reply.code(307).header('location', `/privx/login?token=${encodeURIComponent(token)}`).send();
    },
  );

  app.post(
    '/login',
    {
      config: { public: true },
      schema: {
        summary: 'Log a user in against a login token from /oauth/authorize; answers the authorization code',
        tags: ['auth'],
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 200 }),
            password: Type.String({ maxLength: 1024 }),
            token: Type.String({ minLength: 1, maxLength: 200 }),
          },
          { additionalProperties: true },
        ),
        response: { 200: Type.Object({ code: Type.String(), state: Type.String() }), ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const body = request.body as { username: string; password: string; token: string };
      const db = context.database.db;
      const now = context.clock.now();
      const tokenHash = keyedHash(body.token, context.secretKey);
      const loginRequest = await db.selectFrom('login_requests').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
      if (!loginRequest || loginRequest.used !== null || loginRequest.expires <= timestamp(now)) {
        throw new PrivxError(400, 'INVALID_GRANT', 'login token is invalid, used or expired', { property: 'token' });
      }
      // Counted against the account and the address before the (slow) password check, so parallel guesses cannot outrun the limit.
      const user = await throttle.attempt(request.ip, body.username, async (attempt) => {
        const found = await db.selectFrom('users').select(['id', 'username', 'password_hash', 'disabled']).where('username', '=', body.username).executeTakeFirst();
        const passwordOk = await verifyPassword(body.password, found?.password_hash ?? (await dummyHash()));
        if (!found || !passwordOk || found.disabled) {
          await throttle.fail(attempt, 'login_failed', found?.disabled ? 'user disabled' : 'invalid username or password', body.username);
          throw new PrivxError(401, 'UNAUTHORIZED', 'invalid username or password');
        }
        const consumed = await db
          .updateTable('login_requests')
          .set({ used: timestamp(now) })
          .where('token_hash', '=', tokenHash)
          .where('used', 'is', null)
          .executeTakeFirst();
        if (Number(consumed.numUpdatedRows) !== 1) throw new PrivxError(400, 'INVALID_GRANT', 'login token is invalid, used or expired', { property: 'token' });
        await throttle.succeed(attempt);
        return found;
      });
      const code = randomToken(32);
      await db
        .insertInto('authorization_codes')
        .values({
          code_hash: keyedHash(code, context.secretKey),
          user_id: user.id,
          client_id: loginRequest.client_id,
          redirect_uri: loginRequest.redirect_uri,
          code_challenge: loginRequest.code_challenge,
          created: timestamp(now),
          expires: timestamp(addSeconds(now, AUTHORIZATION_CODE_TTL_SECONDS)),
          used: null,
        })
        .execute();
      await recordAuditEvent(db, {
        type: 'login',
        outcome: 'success',
        principal: { type: 'user', id: user.id, name: user.username },
        sourceAddress: request.ip,
        at: now,
      });
      return { code, state: loginRequest.state };
    },
  );
}
