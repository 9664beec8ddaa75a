import type { Generated } from 'kysely';

/** local-user-store, role-store and auth tables. */
export interface IdentityTables {
  users: {
    id: string;
    username: string;
    email: string;
    full_name: string;
    /** scrypt, self-describing; null = cannot log in with a password. */
    password_hash: string | null;
    disabled: number;
    builtin: number;
    created: string;
    updated: string;
    author: string;
    /** PrivX LocalUser profile texts (migration 0009, defaults on insert); '' = unset. */
    comment: Generated<string>;
    display_name: Generated<string>;
    first_name: Generated<string>;
    last_name: Generated<string>;
    job_title: Generated<string>;
    company: Generated<string>;
    department: Generated<string>;
    telephone: Generated<string>;
    locale: Generated<string>;
    unix_account: Generated<string>;
    windows_account: Generated<string>;
    /** Id of the principal that last changed the user ('' = never changed). */
    updated_by: Generated<string>;
    /** JSON array of tag strings. */
    tags: Generated<string>;
    /** JSON array of `{key, value}`. */
    attributes: Generated<string>;
    password_change_required: Generated<number>;
    /** When the password was last set (the wire's `password.created`); null = unknown or none. */
    password_created: string | null;
  };
  api_clients: {
    id: string;
    name: string;
    /** Keyed SHA-256 of the generated client secret. */
    secret_hash: string;
    oauth_client_id: string;
    oauth_client_secret_hash: string;
    /** The client secret sealed under the installation key; null for clients made before 0011 (hash only). */
    secret_sealed: string | null;
    /** The OAuth client secret sealed under the installation key; null like `secret_sealed`. */
    oauth_client_secret_sealed: string | null;
    created: string;
    updated: string;
    /** Id of the principal that last changed it ('' until then). */
    updated_by: Generated<string>;
    author: string;
  };
  roles: {
    id: string;
    name: string;
    description: string;
    /** JSON array of permission strings. */
    permissions: string;
    builtin: number;
    created: string;
    updated: string;
    author: string;
    /** JSON: the SDK's SourceRule tree (stored, not evaluated). */
    source_rules: Generated<string>;
    access_group_id: Generated<string>;
    /** JSON: the contextual limit (lib/contextual-limit.ts), enforced at token issue. */
    context: Generated<string>;
    permit_agent: Generated<number>;
    /** JSON array of strings. */
    tags: Generated<string>;
    grant_type: Generated<string>;
    grant_start: Generated<string>;
    grant_end: Generated<string>;
    /** JSON array of `{grant_start, grant_end}`. */
    grant_validity_periods: Generated<string>;
    floating_length: Generated<number>;
    updated_by: Generated<string>;
  };
  /** Per-role SSH key pairs; the private key (OpenSSH PEM) sealed under the installation key, never returned. */
  role_principal_keys: {
    id: string;
    role_id: string;
    /** `ssh-rsa AAAA…` (authorized_keys form). */
    public_key: string;
    private_key_sealed: string;
    created: string;
    author: string;
  };
  role_members: {
    role_id: string;
    principal_type: 'user' | 'api-client';
    principal_id: string;
    created: string;
  };
  signing_keys: {
    kid: string;
    private_key_pem: string;
    public_jwk: string;
    created: string;
    /** Tokens are signed with the newest key whose retired is null. */
    retired: string | null;
  };
  /**
   * Redeemed refresh tokens. Refresh tokens are self-contained and MAC'd (TokenService.issue), so
   * issuing one writes nothing; redeeming one inserts its id here, and the unique key is what
   * detects a second redemption (reuse revokes the family through `token_revocations`). Rows
   * with `used` null are refresh tokens stored by an earlier version, still honoured once.
   */
  refresh_tokens: {
    id: string;
    token_hash: string;
    family_id: string;
    principal_type: string;
    principal_id: string;
    client_id: string;
    created: string;
    expires: string;
    used: string | null;
    revoked: string | null;
  };
  /** The `token=` a GET /oauth/authorize hands out, consumed by POST /login. */
  login_requests: {
    token_hash: string;
    client_id: string;
    redirect_uri: string;
    state: string;
    code_challenge: string;
    created: string;
    expires: string;
    used: string | null;
  };
  authorization_codes: {
    code_hash: string;
    user_id: string;
    client_id: string;
    redirect_uri: string;
    code_challenge: string;
    created: string;
    expires: string;
    used: string | null;
  };
  /**
   * Token revocations: key `jti:<id>` revokes one access token, `sub:<type>:<id>` revokes every
   * access and refresh token of that principal issued before `issued_before` (logout everywhere,
   * deletion, role change), `family:<id>` revokes a refresh-token family. Access tokens are
   * checked against it on every request (each node may act on an answer up to
   * REVOCATION_PROPAGATION_MS old); rows can be dropped after `expires`.
   */
  token_revocations: { key: string; issued_before: string | null; expires: string };
  /**
   * The login throttle's counters (services/auth/throttle.ts): `n` attempts of the account or
   * client address `name` counted since `window_start` (RFC 3339). A row whose window has ended
   * counts as zero; housekeeping drops it later.
   */
  login_attempts: { scope: 'account' | 'address'; name: string; n: number; window_start: string };
}
