/**
 * Compact JWS / JWT with ES256 (ECDSA P-256 + SHA-256) only: a thin adapter over `jose`.
 *
 * `jose` does the JOSE work (JWS verification, JWT claim validation, RFC 7638 thumbprints); this
 * module pins it to this project's profile and turns its exceptions into typed `{ ok, reason }`
 * results (signing stays on node:crypto for speed, see {@link signJwt}):
 *
 * - the algorithm is pinned to ES256 by the verifier (`algorithms: ['ES256']`; the header never
 *   selects anything);
 * - keys come only from the caller's key source by `kid` (`jku`, `x5u`, `jwk`, `x5c` header
 *   parameters are ignored, never fetched or trusted);
 * - tokens are bounded to 8 KiB and must be canonical compact JWS (checked before `jose` sees them);
 * - every failure is a result rather than an exception, so it is safe on untrusted input.
 *
 * Signing and verification are asynchronous: the ECDSA work runs on libuv's thread pool.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, sign } from 'node:crypto';
import { calculateJwkThumbprint, errors, jwtVerify, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';

/** Largest token {@link verifyJwt} accepts (and {@link signJwt} produces), in characters. */
export const MAX_JWT_LENGTH = 8 * 1024;

/** Longest accepted `kid`. */
const MAX_KID_LENGTH = 256;

/** A P-256 public key in JWK form, as published in a JWKS document. */
export interface EcPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  /** RFC 7638 SHA-256 thumbprint of the key, base64url. */
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

/** The key {@link signJwt} signs with. */
export interface SigningKey {
  /** Key id put into the JWS header; normally the RFC 7638 thumbprint. */
  kid: string;
  /** ECDSA P-256 private key. */
  privateKey: KeyObject;
}

/** Result of {@link generateSigningKey}. */
export interface GeneratedSigningKey extends SigningKey {
  /** The private key as PKCS#8 PEM, for storage. */
  privateKeyPem: string;
  /** The public key as a JWK, for the JWKS document. */
  publicJwk: EcPublicJwk;
  /** The public key. */
  publicKey: KeyObject;
}

/**
 * A verification key as stored in a key source: a `KeyObject` (public, or private from which the
 * public half is taken), a public JWK object (`kty: 'EC'`, `crv: 'P-256'`, `x`, `y`), or a PEM
 * string. Anything other than an EC P-256 key never verifies (`unknown_key`).
 */
export type VerificationKey = KeyObject | { kty?: unknown; crv?: unknown; x?: unknown; y?: unknown } | string;

/**
 * Where {@link verifyJwt} finds keys by `kid`.
 *
 * - A `Map`: entries that are not yet validated `KeyObject`s are imported on first use and the
 *   imported `KeyObject` is written back into the same Map, so later calls do no parsing.
 * - A function: called with the token's `kid`; JWK objects it returns are cached in a WeakMap
 *   keyed by the object, PEM strings in a small bounded cache.
 */
export type KeySource = Map<string, VerificationKey> | ((kid: string) => VerificationKey | null | undefined);

/** Options of {@link verifyJwt}. */
export interface VerifyJwtOptions {
  /** Key source, looked up by the header's `kid`. */
  keys: KeySource;
  /** Accepted `iss` value(s); the claim is required. */
  issuer: string | readonly string[];
  /**
   * Accepted audience(s). When given, the `aud` claim (string or array of strings) must contain at
   * least one of them; when omitted, `aud` is not checked.
   */
  audience?: string | readonly string[];
  /** The current time. */
  now: Date;
  /** Allowed clock skew for `exp`, `nbf` and `iat`, in seconds (≥ 0). */
  clockToleranceSeconds: number;
}

/** Why {@link verifyJwt} rejected a token. */
export type JwtFailureReason =
  | 'malformed'
  | 'algorithm'
  | 'unknown_key'
  | 'signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issuer'
  | 'audience';

/** Protected header of a verified token. */
export interface JwtHeader {
  alg: 'ES256';
  kid: string;
  typ?: string;
  [name: string]: unknown;
}

/** Claims of a verified token (the registered claims below have been type-checked). */
export interface JwtPayload {
  iss: string;
  exp: number;
  nbf?: number;
  iat?: number;
  sub?: unknown;
  aud?: string | string[];
  [name: string]: unknown;
}

/** Result of {@link verifyJwt} (resolved). */
export type VerifyJwtResult =
  | { readonly ok: true; readonly header: JwtHeader; readonly payload: JwtPayload }
  | { readonly ok: false; readonly reason: JwtFailureReason };

// ---------------------------------------------------------------------------------------------
// Keys

/** Validated ES256 public keys (imported or checked once). */
const validVerificationKeys = new WeakSet<KeyObject>();
/** Validated ES256 private keys. */
const validSigningKeys = new WeakSet<KeyObject>();
/** Keys imported from JWK objects returned by a lookup function. */
const jwkObjectCache = new WeakMap<object, KeyObject | null>();
/** Keys imported from PEM strings returned by a lookup function (least recently used go first); `false` = not a P-256 key. */
const PEM_CACHE_LIMIT = 64;
const pemCache = new LRUCache<string, KeyObject | false>({ max: PEM_CACHE_LIMIT });

function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

/** Imports / validates a verification key; `null` when it is not an EC P-256 key. */
function importVerificationKey(value: VerificationKey): KeyObject | null {
  try {
    let key: KeyObject;
    if (value instanceof KeyObject) {
      if (value.type === 'public') key = value;
      else if (value.type === 'private') key = createPublicKey(value);
      else return null;
    } else if (typeof value === 'string') {
      key = createPublicKey(value);
    } else if (value !== null && typeof value === 'object') {
      const { kty, crv, x, y } = value;
      if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string') return null;
      key = createPublicKey({ key: { kty, crv, x, y }, format: 'jwk' });
    } else {
      return null;
    }
    if (!isP256(key)) return null;
    validVerificationKeys.add(key);
    return key;
  } catch {
    return null;
  }
}

/** The public key `kid` names in `source`, or undefined (imported values are cached, see {@link KeySource}). */
function resolveKey(source: KeySource, kid: string): KeyObject | undefined {
  if (typeof source === 'function') {
    const value = source(kid);
    if (value === null || value === undefined) return undefined;
    let key: KeyObject | null | undefined;
    if (value instanceof KeyObject) {
      key = validVerificationKeys.has(value) ? value : importVerificationKey(value);
    } else if (typeof value === 'string') {
      const cached = pemCache.get(value);
      if (cached === undefined) {
        key = importVerificationKey(value);
        pemCache.set(value, key ?? false);
      } else {
        key = cached || null;
      }
    } else if (typeof value === 'object') {
      key = jwkObjectCache.get(value);
      if (key === undefined) {
        key = importVerificationKey(value);
        jwkObjectCache.set(value, key);
      }
    }
    return key ?? undefined;
  }
  const value = source.get(kid);
  if (value === undefined) return undefined;
  if (value instanceof KeyObject && validVerificationKeys.has(value)) return value;
  const key = importVerificationKey(value);
  if (!key) return undefined;
  if (key !== value) source.set(kid, key);
  return key;
}

function assertSigningKey(key: KeyObject): void {
  if (validSigningKeys.has(key)) return;
  if (!(key instanceof KeyObject) || key.type !== 'private' || !isP256(key)) {
    throw new TypeError('the signing key must be an ECDSA P-256 private KeyObject');
  }
  validSigningKeys.add(key);
}

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url) of a P-256 public key (`jose`'s
 * `calculateJwkThumbprint`: the hash of `{"crv":…,"kty":"EC","x":…,"y":…}`).
 */
export function jwkThumbprint(jwk: { crv: string; kty: string; x: string; y: string }): Promise<string> {
  return calculateJwkThumbprint({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }, 'sha256');
}

/**
 * The JWKS entry for an ES256 key (`kty`, `crv`, `x`, `y`, `kid`, `alg: 'ES256'`, `use: 'sig'`),
 * `kid` being the RFC 7638 thumbprint. A private key is accepted; only its public half is exported.
 *
 * @throws TypeError when the key is not an EC P-256 key.
 */
export async function publicJwk(keyObject: KeyObject): Promise<EcPublicJwk> {
  if (!(keyObject instanceof KeyObject) || keyObject.type === 'secret') {
    throw new TypeError('publicJwk needs an asymmetric KeyObject');
  }
  const publicKey = keyObject.type === 'private' ? createPublicKey(keyObject) : keyObject;
  if (!isP256(publicKey)) throw new TypeError('publicJwk supports ECDSA P-256 keys only');
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new TypeError('could not export the key as a JWK');
  const kid = await jwkThumbprint({ crv: 'P-256', kty: 'EC', x: jwk.x, y: jwk.y });
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, alg: 'ES256', use: 'sig' };
}

/** Generates a fresh ES256 signing key; `kid` is the RFC 7638 thumbprint of its public key. */
export async function generateSigningKey(): Promise<GeneratedSigningKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = await publicJwk(publicKey);
  validSigningKeys.add(privateKey);
  return {
    kid: jwk.kid,
    privateKey,
    publicKey,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicJwk: jwk,
  };
}

/**
 * Loads a stored ES256 private key (PKCS#8 or SEC1 PEM) as a {@link SigningKey} whose `kid` is the
 * RFC 7638 thumbprint, i.e. the same `kid` {@link generateSigningKey} reported for it.
 *
 * @throws TypeError when the PEM is not an EC P-256 private key.
 */
export async function importSigningKey(privateKeyPem: string): Promise<SigningKey> {
  const privateKey = createPrivateKey(privateKeyPem);
  assertSigningKey(privateKey);
  return { kid: (await publicJwk(privateKey)).kid, privateKey };
}

// ---------------------------------------------------------------------------------------------
// Sign

/** Encoded protected headers by kid (least recently used go first). */
const HEADER_CACHE_LIMIT = 64;
const headerSegments = new LRUCache<string, string>({ max: HEADER_CACHE_LIMIT });

function headerSegment(kid: string): string {
  let segment = headerSegments.get(kid);
  if (segment === undefined) {
    segment = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid }), 'utf8').toString('base64url');
    headerSegments.set(kid, segment);
  }
  return segment;
}

/**
 * Signs `payload` as a compact JWS with header `{"alg":"ES256","typ":"JWT","kid":…}`; the ECDSA
 * signature (IEEE P1363, as JWS requires) is computed on libuv's thread pool. The payload is
 * serialized as is: the caller sets `iss`, `exp`, `iat`, … (verification requires `iss` and `exp`).
 *
 * Not jose's `SignJWT`/`CompactSign`: on Node 20 those sign through WebCrypto, which costs the
 * event loop several times what `crypto.sign` with a callback does, and the token endpoint signs
 * on every grant. The encoding is the compact serialization only (RFC 7515 §7.1); every token is
 * verified by jose (see the tests, which also check that jose's own signatures verify here).
 *
 * @throws TypeError on a non-object payload, an empty kid or a key that is not an EC P-256 private
 *   key; RangeError when the token would exceed {@link MAX_JWT_LENGTH}. (Thrown synchronously,
 *   before any signing work.)
 */
export function signJwt(payload: Record<string, unknown>, key: SigningKey): Promise<string> {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new TypeError('the JWT payload must be a JSON object');
  }
  if (typeof key.kid !== 'string' || key.kid.length === 0 || key.kid.length > MAX_KID_LENGTH) {
    throw new TypeError(`kid must be a non-empty string of at most ${MAX_KID_LENGTH} characters`);
  }
  assertSigningKey(key.privateKey);
  const input = `${headerSegment(key.kid)}.${Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url')}`;
  // ES256 signatures are 86 base64url characters.
  if (input.length + 87 > MAX_JWT_LENGTH) throw new RangeError('the JWT would exceed the maximum token length');
  return new Promise((resolve, reject) => {
    sign('sha256', Buffer.from(input, 'latin1'), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }, (error, signature) => {
      if (error) reject(error);
      else resolve(`${input}.${signature.toString('base64url')}`);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Verify

/** Three non-empty base64url segments; no padding, no whitespace. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** An ES256 signature is 64 bytes = 86 base64url characters. */
const ES256_SIGNATURE_CHARS = 86;
const BASE64URL_VALUE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ALGORITHMS = ['ES256'];

const fail = (reason: JwtFailureReason): VerifyJwtResult => Object.freeze({ ok: false, reason }) as VerifyJwtResult;
const FAIL = {
  malformed: fail('malformed'),
  algorithm: fail('algorithm'),
  unknown_key: fail('unknown_key'),
  signature: fail('signature'),
  expired: fail('expired'),
  not_yet_valid: fail('not_yet_valid'),
  issuer: fail('issuer'),
  audience: fail('audience'),
} as const satisfies Record<JwtFailureReason, VerifyJwtResult>;

/** Thrown by the key resolver to end verification with a reason (never escapes {@link verifyJwt}). */
class Rejected extends Error {
  constructor(readonly result: VerifyJwtResult) {
    super(result.ok ? 'ok' : result.reason);
  }
}
/** One instance per reason, thrown again and again: a rejected token allocates no error. */
const REJECT = {
  malformed: new Rejected(FAIL.malformed),
  unknown_key: new Rejected(FAIL.unknown_key),
  signature: new Rejected(FAIL.signature),
} as const;

function isStringArray(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (const item of value) if (typeof item !== 'string') return false;
  return true;
}

const isFiniteOrAbsent = (value: unknown): boolean => value === undefined || (typeof value === 'number' && Number.isFinite(value));

/** The protected header of a token jose called structurally invalid, if it is a JSON object. */
function headerOfInvalid(token: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url')));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * The claim checks `jose` does not make (finite numbers, the type of `aud`, `iat` in the future),
 * and the time checks in this profile's order: a token that fails several claim checks reports
 * the first of malformed → expired → not yet valid → issuer → audience (jose checks `iss` and
 * `aud` before the times, `nbf` before `exp`).
 */
function claimsFailure(payload: Record<string, unknown>, now: number, tolerance: number): VerifyJwtResult | undefined {
  const { exp, nbf, iat, aud } = payload;
  if (typeof exp !== 'number' || !Number.isFinite(exp) || !isFiniteOrAbsent(nbf) || !isFiniteOrAbsent(iat)) return FAIL.malformed;
  if (aud !== undefined && typeof aud !== 'string' && !isStringArray(aud)) return FAIL.malformed;
  if (now - tolerance >= exp) return FAIL.expired;
  if (nbf !== undefined && now + tolerance < (nbf as number)) return FAIL.not_yet_valid;
  if (iat !== undefined && (iat as number) > now + tolerance) return FAIL.not_yet_valid;
  return undefined;
}

/** Today's reason for an exception from `jose`'s `jwtVerify`. */
function reasonOf(error: unknown, token: string, now: number, tolerance: number): VerifyJwtResult {
  if (error instanceof Rejected) return error.result;
  if (error instanceof errors.JOSEAlgNotAllowed) return FAIL.algorithm;
  if (error instanceof errors.JWSSignatureVerificationFailed) return FAIL.signature;
  if (error instanceof errors.JWTExpired || error instanceof errors.JWTClaimValidationFailed) {
    // The signature verified; report the claim failure this profile checks first.
    const earlier = claimsFailure(error.payload as Record<string, unknown>, now, tolerance);
    if (earlier !== undefined) return earlier;
    if (error instanceof errors.JWTExpired) return FAIL.expired;
    if (error.claim === 'iss') return FAIL.issuer;
    if (error.claim === 'aud') return FAIL.audience;
    if (error.claim === 'nbf' && error.reason === 'check_failed') return FAIL.not_yet_valid;
    return FAIL.malformed; // a required claim missing, or a time claim that is not a number
  }
  if (error instanceof errors.JWSInvalid) {
    // jose checks that `alg` is a non-empty string before the allow-list: a header without a
    // usable `alg` is an algorithm failure, as every `alg` other than ES256 is.
    const header = headerOfInvalid(token);
    if (header !== null && !Object.hasOwn(header, 'crit') && header.alg !== 'ES256') return FAIL.algorithm;
  }
  return FAIL.malformed; // JWSInvalid, JWTInvalid, JOSENotSupported (crit), …
}

/**
 * Verifies a compact ES256 JWS/JWT and its registered claims with `jose`'s `jwtVerify`. Never
 * throws (or rejects) on token content:
 *
 * - `malformed`: not a string, longer than 8 KiB, not three non-empty base64url segments (padding
 *   `=` is rejected), header not a JSON object, a `crit` header, a `kid` present but not a
 *   non-empty string of ≤ 256 characters, a non-string `typ`, payload not a JSON object, `exp`
 *   missing or not a finite number, `nbf` / `iat` present but not finite numbers, or `aud` present
 *   but neither a string nor an array of strings.
 * - `algorithm`: `alg` is anything but `ES256` (`none`, `HS256`, `RS256`, `ES384`, missing…).
 * - `unknown_key` when `kid` is absent or not in `keys` (or maps to a non-P-256 key). `jku`,
 *   `x5u`, `jwk` and `x5c` are ignored.
 * - `signature`: the signature is not 64 bytes (86 canonical base64url characters) or does not verify.
 * - `expired` when `now ≥ exp + tolerance`; `not_yet_valid` when `now + tolerance < nbf` or
 *   `iat > now + tolerance`.
 * - `issuer`: `iss` is not a string among `options.issuer`.
 * - `audience`: `options.audience` given and `aud` (string or string array) contains none of them.
 *
 * The header checks come first, then the signature, then the claims in the order listed (the
 * first failure is reported).
 *
 * @throws TypeError only for invalid `options` (bad `now`, negative tolerance, empty issuer),
 *   synchronously.
 */
export function verifyJwt(token: string, options: VerifyJwtOptions): Promise<VerifyJwtResult> {
  const nowMs = options.now instanceof Date ? options.now.getTime() : Number.NaN;
  const tolerance = options.clockToleranceSeconds;
  if (Number.isNaN(nowMs)) throw new TypeError('options.now must be a valid Date');
  if (!(tolerance >= 0) || !Number.isFinite(tolerance)) {
    throw new TypeError('options.clockToleranceSeconds must be a finite number ≥ 0');
  }
  if (options.issuer === '' || (typeof options.issuer !== 'string' && options.issuer.length === 0)) {
    throw new TypeError('options.issuer must not be empty');
  }
  // What jose does not check (or checks later): size, canonical shape, signature length and
  // canonical last character (base64url decoders ignore its surplus bits: a token must have one form).
  if (typeof token !== 'string' || token.length > MAX_JWT_LENGTH || !TOKEN_SHAPE.test(token)) return Promise.resolve(FAIL.malformed);
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  // A base64 segment of 4n+1 characters cannot be decoded.
  if (dot1 % 4 === 1 || (dot2 - dot1 - 1) % 4 === 1 || (token.length - dot2 - 1) % 4 === 1) return Promise.resolve(FAIL.malformed);
  return verifyWithJose(token, options, nowMs / 1000, tolerance);
}

async function verifyWithJose(token: string, options: VerifyJwtOptions, now: number, tolerance: number): Promise<VerifyJwtResult> {
  const signatureChars = token.length - token.lastIndexOf('.') - 1;
  let header: JwtHeader;
  let payload: JWTPayload;
  try {
    const verified = await jwtVerify(
      token,
      (protectedHeader) => {
        // Called once the header parsed and `alg` passed the allow-list.
        const { kid, typ } = protectedHeader as { kid?: unknown; typ?: unknown };
        if (kid === undefined) throw REJECT.unknown_key;
        if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) throw REJECT.malformed;
        if (typ !== undefined && typeof typ !== 'string') throw REJECT.malformed;
        const key = resolveKey(options.keys, kid);
        if (key === undefined) throw REJECT.unknown_key;
        if (signatureChars !== ES256_SIGNATURE_CHARS || (BASE64URL_VALUE.indexOf(token.charAt(token.length - 1)) & 0x0f) !== 0) {
          throw REJECT.signature;
        }
        return key;
      },
      {
        algorithms: ALGORITHMS,
        issuer: options.issuer as string | string[],
        ...(options.audience === undefined ? {} : { audience: options.audience as string | string[] }),
        currentDate: new Date(now * 1000),
        clockTolerance: tolerance,
        requiredClaims: ['exp'],
      },
    );
    header = verified.protectedHeader as JwtHeader;
    payload = verified.payload;
  } catch (error) {
    return reasonOf(error, token, now, tolerance);
  }
  return claimsFailure(payload, now, tolerance) ?? { ok: true, header, payload: payload as JwtPayload };
}
