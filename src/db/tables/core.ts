import type { Generated } from 'kysely';

/** Tables every service shares. Timestamps are RFC 3339 UTC strings; booleans are 0/1 integers. */
export interface CoreTables {
  /** Installation-wide values: the key for hashing generated secrets, the policy version, … */
  meta: { key: string; value: string };
  /** Monotonic counters (policy version, settings versions) bumped atomically with UPDATE … +1. */
  counters: { name: string; value: number };
  audit_events: {
    id: string;
    /** Insertion order across nodes: equal timestamps are broken by this sequence. */
    seq: Generated<number>;
    created: string;
    type: string;
    outcome: string;
    principal_type: string | null;
    principal_id: string | null;
    principal_name: string | null;
    source_address: string | null;
    object_type: string | null;
    object_id: string | null;
    /** JSON object with event-specific fields; never holds a secret. */
    details: string;
    /** Which node or proxy reported it. */
    reporter: string;
  };
}
