import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { WebPolicySchema, type WebPolicy } from '../../lib/contracts/web-policy.js';
import { errorResponses } from '../../schemas.js';
import { buildWebPolicy, etagMatches, policyEtag, policyVersion } from './web-policy-builder.js';
import { VersionWatcher } from './version-watcher.js';
import type { TypedApp } from '../typed-app.js';

/** How often a long-poll re-reads the policy version from the database (works across nodes). */
const POLL_INTERVAL_MS = 250;
/**
 * How long after a change that bumps the policy version commits (a web-session revocation, also
 * one fanned out from a principal's revocation) a connected web proxy holding a long-poll on any
 * node has the new document: one {@link POLL_INTERVAL_MS} until the node's watcher sees the
 * version, plus building and sending the document (a few queries). Measured end to end through
 * Squid in test/e2e/web-proxy.test.ts.
 */
export const POLICY_PROPAGATION_MS = 1000;
export const MAX_POLICY_WAIT_SECONDS = 60;
/** How long (business clock) a built policy document is reused for requests at the same version. */
const POLICY_CACHE_MS = 2000;

/**
 * `GET /icap/policy`: the web policy feed for registered web proxies. Strong ETag `"<version>"`;
 * `If-None-Match` with the current version answers 304, and with `?wait=N` the request is held
 * until the version changes (200) or N seconds pass (304).
 */
export function registerIcapPolicyRoutes(app: TypedApp): void {
  const { database, clock } = app.context;
  const db = database.db;
  const watcher = new VersionWatcher(() => policyVersion(db), POLL_INTERVAL_MS);
  // preClose: answer held long-polls (304) at once so a shutdown does not wait out their timeouts.
  app.addHook('preClose', async () => watcher.close());

  // Many proxies ask for the same version right after it changes: build it once per node.
  let cached: { version: number; builtAt: number; policy: Promise<WebPolicy> } | undefined;
  function policyAt(version: number): Promise<WebPolicy> {
    const now = clock.now();
    const age = cached ? now.getTime() - cached.builtAt : Number.POSITIVE_INFINITY;
    if (cached && cached.version === version && age >= 0 && age < POLICY_CACHE_MS) return cached.policy;
    const policy = app.tokens.keys.publicJwks().then((jwks) => buildWebPolicy(db, version, jwks, now));
    const entry = { version, builtAt: now.getTime(), policy };
    cached = entry;
    policy.catch(() => {
      if (cached === entry) cached = undefined;
    });
    return policy;
  }

  app.get(
    '/icap/policy',
    {
      config: { permissions: ['service'] },
      schema: {
        summary: 'The web policy feed (ETag / If-None-Match, long-poll with ?wait=seconds)',
        description:
          'Answers the WebPolicy (src/lib/contracts/web-policy.ts) with ETag "<version>". If-None-Match naming the current ' +
          'version answers 304; with ?wait=N (0..60) the request is held until the version changes (200) or N ' +
          'seconds pass (304). The version changes with hosts, default service options, web-session revocations ' +
          'and signing-key rotations, on any node.',
        tags: ['icap'],
        querystring: Type.Object({ wait: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_POLICY_WAIT_SECONDS })) }),
        response: { 200: WebPolicySchema, 304: Type.Null({ description: 'Not modified: the If-None-Match version is current' }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const ifNoneMatch = request.headers['if-none-match'];
      const wait = request.query.wait ?? 0;
      let version = await policyVersion(db);
      if (etagMatches(ifNoneMatch, policyEtag(version))) {
        const changed = ifNoneMatch?.includes('*') ? undefined : await waitUnlessGone(reply.raw, (signal) => watcher.waitForChange(version, wait * 1000, signal));
        if (changed === undefined) {
          // The schema's 304 `null` documents an empty body; the plain reply sends none.
          const plain: FastifyReply = reply;
          return plain.code(304).header('etag', policyEtag(version)).send();
        }
        version = changed;
      }
      const policy = await policyAt(version);
      reply.header('etag', policyEtag(version));
      return policy;
    },
  );
}

/** Runs `wait` with a signal that aborts when the client goes away before we answer. */
async function waitUnlessGone<T>(response: ServerResponse, wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const gone = new AbortController();
  const onClose = () => {
    if (!response.writableFinished) gone.abort();
  };
  response.once('close', onClose);
  try {
    return await wait(gone.signal);
  } finally {
    response.off('close', onClose);
  }
}
