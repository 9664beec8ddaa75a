import type { Generated } from 'kysely';

/** authorizer and trusted-client tables (owned by the authorizer service). */
export interface AuthorizerTables {
  /**
   * Trusted clients: web proxies (ICAP), extenders, carriers, … Secrets are kept only as keyed
   * SHA-256 hashes; a column is null while the secret does not exist (yet).
   */
  trusted_clients: {
    id: string;
    type: string;
    name: string;
    /** JSON array of permission strings. */
    permissions: string;
    /** JSON array of CIDRs the client may register from. */
    subnets: string;
    enabled: number;
    registered: number;
    allow_repeated_registration: number;
    /** Keyed hash of the outstanding one-time registration secret; null when none is outstanding. */
    registration_secret_hash: string | null;
    registration_secret_expires: string | null;
    /** OAuth client id given at registration (null before). */
    oauth_client_id: string | null;
    oauth_client_secret_hash: string | null;
    /** Keyed hash of the client secret used as `password` in the password grant. */
    client_secret_hash: string | null;
    web_proxy_address: string;
    /** A string, as PrivX clients send it. */
    web_proxy_port: string;
    routing_prefix: string;
    /** JSON array of strings. */
    extender_address: string;
    group_id: string;
    data: string;
    /** Access group the client belongs to ('' = none given). */
    access_group_id: Generated<string>;
    extender_mode: Generated<string>;
    /** JSON array of strings. */
    web_proxy_extender_route_patterns: Generated<string>;
    extender_ssh_address: Generated<string>;
    /** 0 = unset. */
    extender_ssh_port: Generated<number>;
    extender_public_key: Generated<string>;
    created: string;
    updated: string;
    /** Id of the principal that last changed it ('' until then). */
    updated_by: Generated<string>;
    author: string;
  };
  /** Installation CAs for web proxies; `slot` makes creation race-safe (one row per slot). */
  web_proxy_cas: {
    id: string;
    slot: string;
    group_id: string;
    type: string;
    certificate_pem: string;
    private_key_pem: string;
    created: string;
  };
  /** Certificates issued to web proxies, kept so revocations can be listed in the CRL. */
  web_proxy_certificates: {
    serial: string;
    ca_id: string;
    trusted_client_id: string;
    issued: string;
    not_after: string;
    revoked: string | null;
  };
  /** Single-use, short-lived config download sessions (`/icap/conf`, `/carrier/conf`, `/extender/conf`). */
  icap_conf_sessions: {
    /** Keyed hash of the session id; the id itself is never stored. */
    id_hash: string;
    trusted_client_id: string;
    created: string;
    expires: string;
    used: string | null;
  };
  /** Web sessions handed to users; revoked ones are published in the policy feed until expiry. */
  web_sessions: {
    id: string;
    user_type: string;
    user_id: string;
    user_name: string;
    host_id: string;
    principal: string;
    created: string;
    expires: string;
    revoked: string | null;
  };
}
