import crypto from 'node:crypto';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { AppContext } from '../../context.js';
import type { Tables } from '../../db/schema.js';
import { addSeconds, timestamp } from '../../lib/time.js';
import type { AccessTokenVerifier } from '../../plugins/authenticate.js';
import {
  parseAccessToken,
  signAccessToken,
  TOKEN_CLOCK_TOLERANCE_SECONDS,
  tokenCacheKey,
  verifiedToken,
  type TokenCheck,
  type TokenSubject,
  type VerifiedToken,
} from './access-tokens.js';
import type { Principal, PrincipalType } from '../../access.js';
import { redeemRefreshToken, RefreshTokenCodec, type RefreshClaims } from './refresh-tokens.js';
import { insertRevocation, selectRevocations } from './repository.js';
import {
  jtiKey,
  principalTokenRevoked,
  refreshFamilyKey,
  refreshRevokedIn,
  subjectKey,
  writePrincipalRevocation,
} from './revocations.js';
import { SigningKeyStore } from './signing-keys.js';
import { effectiveSettings, type EffectiveSettings } from '../settings/effective.js';
import { MAX_ACCESS_TOKEN_TTL_SECONDS, MAX_REFRESH_TOKEN_TTL_SECONDS, MAX_WEB_SESSION_TTL_SECONDS } from '../settings/registry.js';

/*
 * The token facade (`app.tokens`). The pieces live beside it: access-tokens.ts (claims, signing,
 * parsing), revocations.ts (revocation keys and the database's revocation reads and writes),
 * refresh-tokens.ts (the refresh-token format and redemption), repository.ts (the SQL). What stays
 * here is what a node remembers — verified tokens and revocation answers, with the generation
 * counter — and everything `checkRemembered` runs on every request: its caches stay fields of this
 * one object (one shape for V8), and the functions and constants it uses are this module's own, so
 * the hot check reaches nothing through another module's bindings.
 */

export { TOKEN_AUDIENCE, TOKEN_ISSUER, type TokenCheck, type TokenSubject } from './access-tokens.js';
export type { RefreshClaims } from './refresh-tokens.js';

/** The OAuth2 token response body PrivX clients decode. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
}

/**
 * How stale this node's view of a revocation made on ANOTHER node may be, in milliseconds. Each
 * node remembers what the database said about a token's revocation keys for at most this long
 * (measured from before the read), so a logout, role change, deletion or `/oauth/revoke` on node A
 * is enforced by node B at most this long after it committed. On the node that revoked it takes
 * effect immediately: a local revocation updates the remembered state before it returns, and a
 * read that was in flight during it is not remembered.
 */
export const REVOCATION_PROPAGATION_MS = 1000;

/** A remembered token is dropped this long after its `exp` (the clock skew its check accepts). */
const TOKEN_CLOCK_TOLERANCE_MS = TOKEN_CLOCK_TOLERANCE_SECONDS * 1000;
const VERIFIED_CACHE_SIZE = 10_000;
const REVOCATION_CACHE_SIZE = 20_000;

// Loaded keys are re-read this often so a rotation on another node is picked up for signing.
const KEY_RELOAD_SECONDS = 60;

/** What the database said about one revocation key, and when we asked (performance.now()). */
interface RevocationState {
  present: boolean;
  /** Tokens issued before this instant are revoked; null = every token under the key. */
  issuedBeforeMs: number | null;
  fetchedAt: number;
  /** Noted by this node's own revocation rather than read (see {@link TokenService.settle}). */
  local: boolean;
}

/** The state of `key` in the rows of `selectRevocations` (repository.ts) read at `fetchedAt`. */
function revocationStateOf(rows: readonly { key: string; issued_before: string | null }[], key: string, fetchedAt: number): RevocationState {
  const row = rows.find((candidate) => candidate.key === key);
  return { present: row !== undefined, issuedBeforeMs: row?.issued_before ? Date.parse(row.issued_before) : null, fetchedAt, local: false };
}

/** Whether `read` revokes fewer tokens than `known` (absent, or a cut-off older than known's). */
function revokesLess(read: RevocationState, known: RevocationState): boolean {
  if (!read.present) return known.present;
  if (read.issuedBeforeMs === null) return false;
  return known.issuedBeforeMs === null || read.issuedBeforeMs < known.issuedBeforeMs;
}

/** Whether `state` revokes a token issued at `issuedAtMs`. */
function revokedBy(state: RevocationState, issuedAtMs: number): boolean {
  return state.present && (state.issuedBeforeMs === null || state.issuedBeforeMs > issuedAtMs);
}

/**
 * Mints and verifies access tokens (ES256 JWTs) and refresh tokens. Everything that decides
 * whether a token is valid lives in the database, so a token is honoured by every node and
 * after a restart; what a node remembers is either immutable (a checked signature) or at most
 * {@link REVOCATION_PROPAGATION_MS} old.
 */
export class TokenService implements AccessTokenVerifier {
  readonly keys: SigningKeyStore;
  #keysLoadedAt = 0;
  /**
   * Tokens whose signature and claims were verified, by SHA-256 of the token. Safe across nodes:
   * an entry only saves re-verifying the signature (which cannot change), it is dropped when the
   * token expires, and revocation is checked separately on every request. Least recently used
   * entries go first when it is full; each entry's ttl ends with its token's acceptance (`exp` plus
   * the clock tolerance), a bound on top of the `exp` check every read makes against the clock.
   */
  #verified = new LRUCache<string, VerifiedToken>({ max: VERIFIED_CACHE_SIZE });
  /**
   * Revocation keys (`jti:…`, `sub:…`) → the database's answer, for ≤ REVOCATION_PROPAGATION_MS:
   * each entry's ttl is that bound from when it was read (`fetchedAt`), so a stale answer is gone
   * rather than occupying a slot; every read still checks `fetchedAt` itself.
   *
   * Both ttls are bounds on memory, never what decides: lru-cache samples the clock at most once a
   * millisecond (its default `ttlResolution`; a `performance.now()` per lookup would cost more than
   * the lookup, four of which run on every remembered check), so an entry may outlive its ttl a little.
   */
  #revocations = new LRUCache<string, RevocationState>({ max: REVOCATION_CACHE_SIZE, ttl: REVOCATION_PROPAGATION_MS });
  /** Bumped by every local revocation: a read that overlapped one is not remembered. */
  #revocationGeneration = 0;
  /** Mints and reads refresh tokens (MAC'd with a key derived from the installation secret). */
  readonly #refreshTokens: RefreshTokenCodec;
  /** Principals revoked inside a caller's transaction, to revoke again once it committed (see confirmRevocations). */
  readonly #revokedInTransaction = new WeakMap<Kysely<Tables>, Array<{ type: PrincipalType; id: string }>>();

  /** The token lifetimes in force (the `auth/tokens` settings, env overrides; docs/settings.md). */
  readonly #settings: EffectiveSettings;
  /**
   * How long a revocation by principal or family is kept: past the longest lifetime any token can
   * have been issued with — the settings' bound or the bootstrap value — so neither lowering a
   * lifetime setting nor raising it again lets a revoked token revive.
   */
  readonly #revocationLifetimeSeconds: number;

  constructor(private readonly context: AppContext) {
    // Web sessions are signed with the same keys and live longer than access tokens: a retired key
    // must verify until the longest-lived of either has expired (plus clock-skew slack), for any
    // lifetime the settings allow.
    const { config } = context;
    const longestTokenSeconds = Math.max(config.accessTokenTtlSeconds, config.webSessionTtlSeconds, MAX_ACCESS_TOKEN_TTL_SECONDS, MAX_WEB_SESSION_TTL_SECONDS);
    this.keys = new SigningKeyStore(context.database.db, longestTokenSeconds + 60);
    this.#refreshTokens = new RefreshTokenCodec(context.secretKey);
    this.#settings = effectiveSettings(context);
    this.#revocationLifetimeSeconds =
      Math.max(config.accessTokenTtlSeconds, config.refreshTokenTtlSeconds, MAX_ACCESS_TOKEN_TTL_SECONDS, MAX_REFRESH_TOKEN_TTL_SECONDS) + 60;
  }

  async start(): Promise<void> {
    await this.keys.load(this.context.clock.now());
    this.#keysLoadedAt = Date.now();
  }

  private async currentKey() {
    if (Date.now() - this.#keysLoadedAt > KEY_RELOAD_SECONDS * 1000) await this.start();
    return this.keys.current;
  }

  /** Signs an access token for `subject`; with `familyId`, revoking that refresh-token family revokes it. */
  async signAccessToken(subject: TokenSubject, clientId: string, familyId?: string, lifetimeSeconds?: number): Promise<{ token: string; expiresIn: number; jti: string }> {
    const seconds = lifetimeSeconds ?? (await this.#settings.tokenLifetimes()).accessTokenTtlSeconds;
    return signAccessToken(subject, clientId, familyId, this.context.clock.now(), seconds, await this.currentKey());
  }

  /**
   * Issues an access token and a refresh token. A refresh token belongs to a family; rotating it
   * keeps the family, and presenting a used one revokes the whole family (theft detection).
   *
   * Issuing writes nothing: the refresh token is self-contained and MAC'd with a key derived from
   * the installation secret. State is written only when one is redeemed ({@link redeemRefreshToken})
   * or revoked (by family or principal, in `token_revocations`).
   */
  async issue(subject: TokenSubject, clientId: string, familyId: string = crypto.randomUUID()): Promise<TokenResponse> {
    const lifetimes = await this.#settings.tokenLifetimes();
    const access = await this.signAccessToken(subject, clientId, familyId, lifetimes.accessTokenTtlSeconds);
    const now = this.context.clock.now().getTime();
    const refresh = this.#refreshTokens.mint({
      // randomUUID draws from a pooled entropy buffer: far cheaper per call than randomBytes.
      id: crypto.randomUUID(),
      familyId,
      type: subject.type,
      principalId: subject.id,
      clientId,
      issuedAtMs: now,
      expiresAtMs: now + lifetimes.refreshTokenTtlSeconds * 1000,
    });
    return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: refresh };
  }

  // ─── access tokens ───────────────────────────────────────────────────────────────────────

  /** Verifies signature, claims and revocation; null for anything not acceptable. */
  async verify(token: string): Promise<Principal | null> {
    const result = await this.check(token);
    return result.ok ? result.principal : null;
  }

  /**
   * Like {@link verify}, but says why a token was rejected (for the audit trail). `key` is the
   * token's {@link keyOf}, when the caller already has it.
   */
  async check(token: string, key: string = tokenCacheKey(token)): Promise<TokenCheck> {
    return this.checkRemembered(token, key) ?? this.checkFully(token, key);
  }

  /** The key a verified token is remembered by: its SHA-256, so no token is kept in this node's memory. */
  keyOf(token: string): string {
    return tokenCacheKey(token);
  }

  /**
   * The answer for a token this node verified before and whose revocation state it knows recently
   * enough (see {@link REVOCATION_PROPAGATION_MS}) or can read again without waiting (SQLite's read
   * connection); undefined when that is not the case and {@link check} must be asked.
   */
  checkRemembered(token: string, key: string = tokenCacheKey(token)): TokenCheck | undefined {
    const verified = this.#verified.get(key);
    if (!verified || verified.expiresAtMs + TOKEN_CLOCK_TOLERANCE_MS <= this.context.clock.now().getTime()) return undefined;
    // Every revocation state must be recent enough to act on (fetched within the propagation bound);
    // when one is not, they are read again here if the database can answer without waiting.
    const freshAfter = performance.now() - REVOCATION_PROPAGATION_MS;
    let byJti = this.#revocations.get(verified.jtiKey);
    let bySubject = this.#revocations.get(verified.subjectKey);
    let byFamily = this.#revocations.get(verified.familyKey);
    if (!byJti || !bySubject || !byFamily || byJti.fetchedAt <= freshAfter || bySubject.fetchedAt <= freshAfter || byFamily.fetchedAt <= freshAfter) {
      const fetchedAt = performance.now();
      const rows = selectRevocations.now(this.context.database.db, verified.jtiKey, verified.subjectKey, verified.familyKey);
      if (!rows) return undefined;
      // Nothing can have run between the read and this (no await), so no local revocation overlapped.
      byJti = this.settle(verified.jtiKey, revocationStateOf(rows, verified.jtiKey, fetchedAt), true);
      bySubject = this.settle(verified.subjectKey, revocationStateOf(rows, verified.subjectKey, fetchedAt), true);
      byFamily = this.settle(verified.familyKey, revocationStateOf(rows, verified.familyKey, fetchedAt), true);
    }
    return revokedBy(byJti, verified.issuedAtMs) || revokedBy(bySubject, verified.issuedAtMs) || revokedBy(byFamily, verified.issuedAtMs)
      ? { ok: false, reason: 'revoked' }
      : verified.accepted;
  }

  private async checkFully(token: string, cacheKey: string): Promise<TokenCheck> {
    const now = this.context.clock.now();
    let verified = this.#verified.get(cacheKey);
    if (verified && verified.expiresAtMs + TOKEN_CLOCK_TOLERANCE_MS <= now.getTime()) {
      this.#verified.delete(cacheKey);
      verified = undefined;
    }
    if (!verified) {
      const parsed = await parseAccessToken(token, now, this.keys);
      if (!parsed.ok) return parsed;
      verified = verifiedToken(parsed.principal, parsed.familyId);
      this.remember(cacheKey, verified);
    }
    const revoked = await this.isRevoked(verified);
    return revoked ? { ok: false, reason: 'revoked' } : verified.accepted;
  }

  private remember(cacheKey: string, verified: VerifiedToken): void {
    // Until the instant every check would drop it anyway (measured on the monotonic clock).
    const ttl = verified.expiresAtMs + TOKEN_CLOCK_TOLERANCE_MS - this.context.clock.now().getTime();
    if (ttl > 0) this.#verified.set(cacheKey, verified, { ttl });
  }

  // ─── revocation ──────────────────────────────────────────────────────────────────────────

  private rememberRevocation(key: string, state: RevocationState): void {
    // Stale REVOCATION_PROPAGATION_MS after it was read (both on performance.now()).
    this.#revocations.set(key, state, { start: state.fetchedAt });
  }

  /**
   * What to act on for `key` after reading `read` from the database, remembering it when
   * `remember`. A revocation this node noted itself within the propagation bound wins over a read
   * that shows less: the read may have raced the revoking transaction's commit.
   */
  private settle(key: string, read: RevocationState, remember: boolean): RevocationState {
    const known = this.#revocations.get(key);
    if (known !== undefined && known.local && known.fetchedAt > performance.now() - REVOCATION_PROPAGATION_MS && revokesLess(read, known)) return known;
    if (remember) this.rememberRevocation(key, read);
    return read;
  }

  /** Reads every key of a token from the database in one statement (and remembers the answer unless a local revocation overlapped). */
  private async isRevoked(token: VerifiedToken): Promise<boolean> {
    const generation = this.#revocationGeneration;
    const fetchedAt = performance.now();
    const rows = await selectRevocations(this.context.database.db, token.jtiKey, token.subjectKey, token.familyKey);
    const remember = generation === this.#revocationGeneration;
    const byJti = this.settle(token.jtiKey, revocationStateOf(rows, token.jtiKey, fetchedAt), remember);
    const bySubject = this.settle(token.subjectKey, revocationStateOf(rows, token.subjectKey, fetchedAt), remember);
    const byFamily = this.settle(token.familyKey, revocationStateOf(rows, token.familyKey, fetchedAt), remember);
    return revokedBy(byJti, token.issuedAtMs) || revokedBy(bySubject, token.issuedAtMs) || revokedBy(byFamily, token.issuedAtMs);
  }

  /** After a local revocation was written: this node acts on it at once. */
  private noteLocalRevocation(key: string, issuedBeforeMs: number | null): void {
    this.#revocationGeneration += 1;
    this.rememberRevocation(key, { present: true, issuedBeforeMs, fetchedAt: performance.now(), local: true });
  }

  /** Revokes one access token until it would have expired anyway. */
  async revokeAccessToken(jti: string, expiresAt: Date): Promise<void> {
    const key = jtiKey(jti);
    await insertRevocation(this.context.database.db, { key, issued_before: null, expires: timestamp(expiresAt) });
    this.noteLocalRevocation(key, null);
  }

  /**
   * Revokes every token a principal holds now: access and refresh tokens issued before this
   * instant, and every live web session it opened (marked revoked, with the policy version bumped
   * so web proxies learn it from the feed). Used on logout, deletion, disabling, role and password
   * changes.
   *
   * Written in one transaction: its own, or `transaction` when the caller's change must commit
   * with it — the caller then calls {@link confirmRevocations} once that transaction committed.
   * This node acts on the revocation as soon as it is written; should the caller's transaction
   * roll back, this node refuses the principal's tokens for at most
   * {@link REVOCATION_PROPAGATION_MS} more, and other nodes never see it.
   */
  async revokePrincipal(type: PrincipalType, id: string, transaction?: Kysely<Tables>): Promise<void> {
    const now = this.context.clock.now();
    const key = subjectKey(type, id);
    // Kept until every token it can revoke (refresh tokens live longest) has expired.
    const expires = timestamp(addSeconds(now, this.#revocationLifetimeSeconds));
    const write = (db: Kysely<Tables>): Promise<void> => writePrincipalRevocation(db, type, id, now, expires);
    if (transaction) {
      await write(transaction);
      const pending = this.#revokedInTransaction.get(transaction);
      if (pending) pending.push({ type, id });
      else this.#revokedInTransaction.set(transaction, [{ type, id }]);
    } else {
      await this.context.database.db.transaction().execute(write);
    }
    this.noteLocalRevocation(key, now.getTime());
  }

  /**
   * Whether the token `principal` was read from has been revoked (by principal or by its id) as
   * `db` sees it now — for a use case that creates something on the strength of that token and must
   * not outlive a revocation that landed after the request's token check (in its own transaction,
   * so a revocation that commits later finds what it creates).
   */
  async revokedSince(principal: Principal, db: Kysely<Tables>): Promise<boolean> {
    return principalTokenRevoked(principal, db);
  }

  /**
   * Revokes again, now that `transaction` committed, every principal revoked inside it. Until the
   * commit other connections still see the old state (roles, `disabled`), so a token grant that
   * read it there mints a token later than the first revocation's instant, and a web session can
   * be opened that the first sweep did not see; the second revocation, stamped after the commit,
   * covers both. Nothing to do for a transaction that revoked no one.
   */
  async confirmRevocations(transaction: Kysely<Tables>): Promise<void> {
    const pending = this.#revokedInTransaction.get(transaction);
    if (!pending) return;
    this.#revokedInTransaction.delete(transaction);
    for (const principal of pending) await this.revokePrincipal(principal.type, principal.id);
  }

  // ─── refresh tokens ──────────────────────────────────────────────────────────────────────

  /**
   * The claims of a refresh token this installation issued, or null when the token is not one (or
   * was altered). Says nothing about expiry, revocation or earlier use.
   */
  readRefreshToken(token: string): RefreshClaims | null {
    return this.#refreshTokens.read(token);
  }

  /**
   * Whether a refresh token (issued at `issuedAtMs`) is revoked, by its family or by a revocation
   * of its principal. Always read from the database: the token endpoint acts on the current state.
   */
  async refreshRevoked(familyId: string, type: PrincipalType, principalId: string, issuedAtMs: number): Promise<boolean> {
    const familyKey = refreshFamilyKey(familyId);
    const rows = await selectRevocations(this.context.database.db, familyKey, subjectKey(type, principalId), familyKey);
    return refreshRevokedIn(rows, familyKey, issuedAtMs);
  }

  /**
   * Records that a refresh token was redeemed. True the first time; false when it had been
   * redeemed before (on any node), i.e. the token was copied. The record is a unique insert, so of
   * two redemptions racing with one token exactly one wins, also across nodes.
   */
  async redeemRefreshToken(token: string, claims: RefreshClaims): Promise<boolean> {
    return redeemRefreshToken(this.context.database.db, this.context.secretKey, token, claims, this.context.clock.now());
  }

  /**
   * Revokes a whole family: every refresh token of it (those issued so far and any rotated from
   * them) and every access token minted with one of them (they carry the family in `fam`). Like
   * {@link revokePrincipal}, in `transaction` when given; this node acts on it at once.
   */
  async revokeRefreshFamily(familyId: string, transaction?: Kysely<Tables>): Promise<void> {
    const now = this.context.clock.now();
    const key = refreshFamilyKey(familyId);
    // Every member was issued before now, so none outlives now + the longest refresh lifetime.
    await insertRevocation(transaction ?? this.context.database.db, { key, issued_before: null, expires: timestamp(addSeconds(now, this.#revocationLifetimeSeconds)) });
    this.noteLocalRevocation(key, null);
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenService;
  }
}
