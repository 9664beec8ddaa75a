/**
 * The web policy feed's contract (`GET /authorizer/api/v1/icap/policy`): everything a web proxy
 * needs to decide a request locally, and nothing secret.
 *
 * One TypeBox schema serves every side of the wire: the authorizer's route serialises with it
 * (fast-json-stringify drops whatever is not declared here, so a field the proxy needs must be
 * added here first), the OpenAPI document is generated from it, the web proxy compiles its check
 * from it (src/webproxy/decision.ts), and the TypeScript types below are derived from it.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { WebOptions } from '../service-options.js';

/** The WEB block of the service options. */
export const WebOptionsSchema = Type.Object({
  file_transfer: Type.Boolean(),
  audio: Type.Boolean(),
  clipboard: Type.Boolean(),
});

/** One WEB host of the policy. */
export const WebPolicyHostSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  /** Addresses of the host's WEB services (host names or IPs, with port). */
  services: Type.Array(Type.Object({ address: Type.String(), port: Type.Integer() })),
  /** Allowed domains from its WEB services; empty = only the services' own addresses. */
  allowed_domains: Type.Array(Type.String()),
  /** Effective web options per principal (account) name, and whether they are the principal's own or the defaults. */
  principals: Type.Array(
    Type.Object({
      principal: Type.String(),
      web: WebOptionsSchema,
      source: Type.Union([Type.Literal('principal'), Type.Literal('default')]),
    }),
  ),
});

/** The policy document. */
export const WebPolicySchema = Type.Object({
  /** Policy version; bumps on any change to defaults, hosts, sessions or keys. */
  version: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  /** RFC 3339 time the document was built. */
  generated: Type.String(),
  /** Public keys (JWK, ES256) that verify web-session tokens. */
  session_keys: Type.Array(Type.Record(Type.String(), Type.String())),
  /** Default web options of the installation. */
  default_web: WebOptionsSchema,
  /** Every host with a WEB service. */
  hosts: Type.Array(WebPolicyHostSchema),
  /** Web-session ids revoked before their expiry. */
  revoked_sessions: Type.Array(Type.String()),
});

export type WebPolicy = Static<typeof WebPolicySchema>;
export type WebPolicyHost = Static<typeof WebPolicyHostSchema>;

// The schema's web options and lib/service-options.ts's WebOptions must stay the same shape.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const webOptionsMatch: Same<Static<typeof WebOptionsSchema>, WebOptions> = true;
void webOptionsMatch;
