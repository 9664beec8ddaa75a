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
    /** The client's access group; null (or absent on insert) reads as the default group. */
    access_group_id: string | null;
  };
  /**
   * Access groups (`/authorizer/api/v1/accessgroups`). Exactly one row has `is_default` = 1: the
   * default group with the fixed id DEFAULT_ACCESS_GROUP_ID, which cannot be deleted.
   */
  access_groups: {
    id: string;
    name: string;
    comment: string;
    host_certificate_trust_anchors: string;
    winrm_host_certificate_trust_anchors: string;
    db_host_certificate_trust_anchors: string;
    /** Key type of the CAs made for the group (renewals may name another). */
    key_type: string;
    /** The CA the group signs with (`ca_id`/`primary_ca_id` on the wire); null until made. */
    primary_ca_id: string | null;
    is_default: number;
    created: string;
    updated: string;
    updated_by: string;
    author: string;
  };
  /** An access group's CA keys: the certificate and OpenSSH public key in clear, the private key sealed. */
  access_group_cas: {
    id: string;
    access_group_id: string;
    key_type: string;
    certificate_pem: string;
    public_key_string: string;
    /** PKCS#8 PEM sealed under the installation key for `access_group_cas.private_key.<id>`. */
    private_key_sealed: string;
    created: string;
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
