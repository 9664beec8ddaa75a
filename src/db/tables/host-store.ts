/** host-store and settings tables (owned by the host-store service). */
export interface HostStoreTables {
  /**
   * Settings by scope and section (`/settings/api/v1`). A missing row means "the declared default"
   * with version 0. `version` is bumped atomically by every write (`version = version + 1`) and is
   * the section's ETag.
   */
  settings: {
    scope: string;
    section: string;
    /** JSON of the section object, complete (validated against the section's schema). */
    value: string;
    version: number;
    updated: string;
    updated_by: string;
  };
  /**
   * One row per host. `document` holds the host exactly as the client sent it (JSON, minus the
   * server fields kept in columns); the other columns and the host_* tables are derived from it
   * for sorting, filtering and searching.
   */
  hosts: {
    id: string;
    name: string;
    common_name: string;
    external_id: string;
    /** The host's `disabled` string ("FALSE", "TRUE", "BULK"). */
    disabled: string;
    /** Lower-cased name, common_name, external_id and addresses, one per line: keyword matching. */
    search_text: string;
    document: string;
    created: string;
    updated: string;
    updated_by: string;
    author: string;
    /** The host's access group (also in `document`); null reads as the default group. */
    access_group_id: string | null;
  };
  /** A host's services in document order (service filter, WEB policy feed). */
  host_services: {
    host_id: string;
    position: number;
    service: string;
    address: string;
    port: number;
  };
  /** A host's principal (account) names. */
  host_principals: { host_id: string; principal: string };
  /** A host's tags (deduplicated). */
  host_tags: { host_id: string; tag: string };
  /** A host's addresses, lower-cased (deduplicated). */
  host_addresses: { host_id: string; address: string };
  /**
   * Trigrams of a host's searchable text: a keyword of three or more characters narrows the
   * candidates through the (gram, host_id) index before the exact substring check.
   */
  host_search_grams: { gram: string; host_id: string };
  /**
   * Command whitelists. `patterns` is the JSON array of glob or regex patterns (by `type`), in the
   * order sent; each compiles (src/lib/command-patterns.ts).
   */
  whitelists: {
    id: string;
    name: string;
    comment: string;
    /** `glob` or `regex`. */
    type: string;
    patterns: string;
    created: string;
    updated: string;
    updated_by: string;
    author: string;
  };
  /**
   * A host's other searchable fields as (field, value) rows (see hostAttributes in
   * search-terms.ts): each HostSearch filter without an index of its own is a range of the
   * (field, value, host_id) primary key.
   */
  host_attributes: { field: string; value: string; host_id: string };
  /**
   * A host principal's passphrase (the target account's password), sealed under the installation
   * key with the context {@link passphraseSealContext} names (host id and principal); written
   * once, never returned by the API, never in the host's document or audit details.
   */
  host_principal_secrets: { host_id: string; principal: string; passphrase_sealed: string; updated: string };
}
