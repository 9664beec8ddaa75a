/**
 * The policy the proxy enforces right now, and a cache of verified session tokens.
 *
 * Swapping the policy is one assignment of an immutable index, so a decision always sees one
 * consistent document. Nothing here does I/O; persisting the document is the poller's job.
 */
import { LRUCache } from 'lru-cache';
import type { VerifyJwtResult } from '../lib/jwt.js';
import type { WebPolicy } from '../lib/web-policy.js';
import { indexPolicy, verifySessionToken, type PolicyIndex, type TokenVerifier } from './decision.js';

export type PolicySource = 'feed' | 'state_file';

/** What `/healthz` and the metrics report about the policy. */
export interface PolicyStatus {
  loaded: boolean;
  version: number | null;
  generated: string | null;
  source: PolicySource | null;
  /** Seconds since the control plane last confirmed this policy as current (200 or 304); null when none. */
  ageSeconds: number | null;
}

export class PolicyStore {
  private current: PolicyIndex | null = null;
  private currentEtag: string | null = null;
  private currentSource: PolicySource | null = null;
  /** When the control plane last said this policy is current. */
  private confirmedAt: Date | null = null;
  private readonly listeners: Array<(index: PolicyIndex) => void> = [];

  /** The policy in force; null until one was loaded (then everything is denied). */
  get index(): PolicyIndex | null {
    return this.current;
  }

  get etag(): string | null {
    return this.currentEtag;
  }

  /** Installs a validated policy. `receivedAt` is when the control plane sent it. */
  install(policy: WebPolicy, etag: string | null, receivedAt: Date, source: PolicySource): PolicyIndex {
    const index = indexPolicy(policy);
    this.current = index;
    this.currentEtag = etag;
    this.currentSource = source;
    this.confirmedAt = receivedAt;
    for (const listener of this.listeners) listener(index);
    return index;
  }

  /** The control plane answered 304: the policy is still current. */
  confirm(at: Date): void {
    if (this.current) this.confirmedAt = at;
  }

  onChange(listener: (index: PolicyIndex) => void): void {
    this.listeners.push(listener);
  }

  status(now: Date): PolicyStatus {
    const index = this.current;
    return {
      loaded: index !== null,
      version: index?.version ?? null,
      generated: index?.generated ?? null,
      source: this.currentSource,
      ageSeconds: index && this.confirmedAt ? Math.max(0, Math.round((now.getTime() - this.confirmedAt.getTime()) / 1000)) : null,
    };
  }
}

/**
 * A {@link TokenVerifier} that remembers successful signature checks per policy version, so a
 * page's many requests (each seen in REQMOD and RESPMOD) cost one ES256 verification. Only
 * successes are cached, and `resolveSession` re-checks expiry on every call (against the time it
 * is given, so entries have no ttl of their own); a new policy (possibly with other keys) starts an
 * empty cache. When full, the least recently used token goes first.
 */
export class CachedTokenVerifier {
  private readonly cache: LRUCache<string, VerifyJwtResult>;
  private version: number | null = null;

  constructor(
    capacity = 4096,
    private readonly verify: TokenVerifier = verifySessionToken,
  ) {
    this.cache = new LRUCache({ max: capacity });
  }

  readonly verifier: TokenVerifier = (token, policy, now) => {
    if (policy.version !== this.version) {
      this.cache.clear();
      this.version = policy.version;
    }
    const cached = this.cache.get(token);
    if (cached) return cached;
    const result = this.verify(token, policy, now);
    if (!(result instanceof Promise)) {
      this.remember(token, result, policy.version);
      return result;
    }
    return result.then((verified) => {
      this.remember(token, verified, policy.version);
      return verified;
    });
  };

  /** Caches a success checked with the keys of policy `version`, unless a newer policy replaced them meanwhile. */
  private remember(token: string, result: VerifyJwtResult, version: number): void {
    if (!result.ok || version !== this.version) return;
    this.cache.set(token, result);
  }

  get size(): number {
    return this.cache.size;
  }
}
