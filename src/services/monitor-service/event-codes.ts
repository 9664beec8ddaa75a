/**
 * The one table of audit event codes: each event type privgate records (the `type` a use case
 * passes to recordAuditEvent, or a web proxy sends in a batch) has a stable numeric `event_id`,
 * an `event_name` and the PrivX service that reports it. PrivX clients read these as the
 * `event_id`/`event_name`/`service_name` of an audit event and from `GET /auditevents/codes`.
 *
 * Codes are never reused or renumbered: a type that goes away keeps its row. The name is always
 * the type in upper case, so sorting by `event_name` is sorting by the stored `type`.
 */

/** The PrivX service names events are reported under. */
export const AUDIT_SERVICES = ['auth', 'local-user-store', 'role-store', 'host-store', 'authorizer', 'settings', 'monitor-service', 'web-proxy'] as const;
export type AuditService = (typeof AUDIT_SERVICES)[number];

export interface AuditEventCode {
  /** The stored `type`. */
  type: string;
  event_id: number;
  service: AuditService;
  description: string;
}

const CODES: readonly AuditEventCode[] = [
  // auth (1xxx)
  { type: 'login', event_id: 1001, service: 'auth', description: 'A user logged in' },
  { type: 'login_failed', event_id: 1002, service: 'auth', description: 'A login or client-credentials grant failed' },
  { type: 'logout', event_id: 1003, service: 'auth', description: 'A user logged out' },
  { type: 'access_token_rejected', event_id: 1004, service: 'auth', description: 'An access token was rejected' },
  { type: 'refresh_token_reused', event_id: 1005, service: 'auth', description: 'A used refresh token was presented again; its family was revoked' },
  { type: 'signing_key_rotated', event_id: 1006, service: 'auth', description: 'The token signing key was rotated' },
  // local-user-store (2xxx)
  { type: 'user_created', event_id: 2001, service: 'local-user-store', description: 'A local user was created' },
  { type: 'user_updated', event_id: 2002, service: 'local-user-store', description: 'A local user was updated' },
  { type: 'user_password_set', event_id: 2003, service: 'local-user-store', description: "A local user's password was set" },
  { type: 'user_deleted', event_id: 2004, service: 'local-user-store', description: 'A local user was deleted' },
  { type: 'api_client_created', event_id: 2011, service: 'local-user-store', description: 'An API client was created' },
  { type: 'api_client_updated', event_id: 2012, service: 'local-user-store', description: 'An API client was updated' },
  { type: 'api_client_secret_rotated', event_id: 2013, service: 'local-user-store', description: "An API client's secret was rotated" },
  { type: 'api_client_deleted', event_id: 2014, service: 'local-user-store', description: 'An API client was deleted' },
  { type: 'trusted_client_created', event_id: 2021, service: 'local-user-store', description: 'A trusted client was created' },
  { type: 'trusted_client_updated', event_id: 2022, service: 'local-user-store', description: 'A trusted client was updated' },
  { type: 'trusted_client_deleted', event_id: 2023, service: 'local-user-store', description: 'A trusted client was deleted' },
  // role-store (3xxx)
  { type: 'role_created', event_id: 3001, service: 'role-store', description: 'A role was created' },
  { type: 'role_updated', event_id: 3002, service: 'role-store', description: 'A role was updated' },
  { type: 'role_deleted', event_id: 3003, service: 'role-store', description: 'A role was deleted' },
  { type: 'role_member_added', event_id: 3004, service: 'role-store', description: 'A member was added to a role' },
  { type: 'role_member_removed', event_id: 3005, service: 'role-store', description: 'A member was removed from a role' },
  { type: 'user_roles_set', event_id: 3006, service: 'role-store', description: "A user's roles were set" },
  { type: 'role_principal_key_created', event_id: 3007, service: 'role-store', description: "A role's principal key was created" },
  { type: 'role_principal_key_deleted', event_id: 3008, service: 'role-store', description: "A role's principal key was deleted" },
  // host-store (4xxx)
  { type: 'host_created', event_id: 4001, service: 'host-store', description: 'A host was created' },
  { type: 'host_updated', event_id: 4002, service: 'host-store', description: 'A host was updated' },
  { type: 'host_deleted', event_id: 4003, service: 'host-store', description: 'A host was deleted' },
  // authorizer (5xxx)
  { type: 'access_group_created', event_id: 5001, service: 'authorizer', description: 'An access group was created' },
  { type: 'access_group_updated', event_id: 5002, service: 'authorizer', description: 'An access group was updated' },
  { type: 'access_group_deleted', event_id: 5003, service: 'authorizer', description: 'An access group was deleted' },
  { type: 'access_group_ca_created', event_id: 5004, service: 'authorizer', description: "An access group's CA was created" },
  { type: 'access_group_ca_deleted', event_id: 5005, service: 'authorizer', description: "An access group's CA was deleted" },
  { type: 'web_proxy_config_session_created', event_id: 5011, service: 'authorizer', description: 'A web proxy config download session was opened' },
  { type: 'web_proxy_config_downloaded', event_id: 5012, service: 'authorizer', description: 'A web proxy config was downloaded' },
  { type: 'carrier_config_session_created', event_id: 5013, service: 'authorizer', description: 'A carrier config download session was opened' },
  { type: 'carrier_config_downloaded', event_id: 5014, service: 'authorizer', description: 'A carrier config was downloaded' },
  { type: 'extender_config_session_created', event_id: 5015, service: 'authorizer', description: 'An extender config download session was opened' },
  { type: 'extender_config_downloaded', event_id: 5016, service: 'authorizer', description: 'An extender config was downloaded' },
  { type: 'web_proxy_registration', event_id: 5021, service: 'authorizer', description: 'A web proxy registered (or failed to)' },
  { type: 'web_session_created', event_id: 5031, service: 'authorizer', description: 'A web access session was created' },
  { type: 'web_session_revoked', event_id: 5032, service: 'authorizer', description: 'A web access session was revoked' },
  // settings (6xxx)
  { type: 'settings_changed', event_id: 6001, service: 'settings', description: 'Settings were changed' },
  // web-proxy (7xxx), reported by registered web proxies in batches
  { type: 'web_request', event_id: 7001, service: 'web-proxy', description: 'A web request through the web proxy was allowed or denied' },
  { type: 'web_file_transfer', event_id: 7002, service: 'web-proxy', description: 'A file was transferred through the web proxy' },
];

/** What a type not (yet) in the table is reported as: code 0, its name, and its reporter's service. */
export const UNCATALOGUED_EVENT_ID = 0;

const BY_TYPE: ReadonlyMap<string, AuditEventCode> = new Map(CODES.map((code) => [code.type, code]));

/** Every code, in event_id order. */
export function auditEventCodes(): readonly AuditEventCode[] {
  return [...CODES].sort((a, b) => a.event_id - b.event_id);
}

/** The event name of a type: the type in upper case. */
export function eventName(type: string): string {
  return type.toUpperCase();
}

/** The code, name and service of a stored event; a type missing from the table gets code 0. */
export function classify(type: string, reporter: string): { event_id: number; event_name: string; service: AuditService } {
  const code = BY_TYPE.get(type);
  if (code) return { event_id: code.event_id, event_name: eventName(type), service: code.service };
  return { event_id: UNCATALOGUED_EVENT_ID, event_name: eventName(type), service: reporter === CONTROL_PLANE_REPORTER ? 'monitor-service' : 'web-proxy' };
}

/** The reporter of events recorded by the control plane itself (audit-log.ts). */
export const CONTROL_PLANE_REPORTER = 'control-plane';

/** The stored types of the given codes (unknown codes match nothing). */
export function typesOfEventIds(ids: readonly number[]): string[] {
  const wanted = new Set(ids);
  return CODES.filter((code) => wanted.has(code.event_id)).map((code) => code.type);
}

/** The stored types reported under the given services (unknown services match nothing). */
export function typesOfServices(services: readonly string[]): string[] {
  const wanted = new Set(services);
  return CODES.filter((code) => wanted.has(code.service)).map((code) => code.type);
}
