/**
 * Compact JWS / JWT with ES256 (ECDSA P-256 + SHA-256) only, on top of node:crypto.
 *
 * Verification is deliberately narrow: the algorithm is pinned to ES256 by the verifier (the
 * header's `alg` must equal it, it never selects anything), keys come only from the caller's key
 * source by `kid` (`jku`, `x5u`, `jwk`, `x5c` header parameters are ignored, never fetched or
 * trusted), tokens are bounded to 8 KiB, and every failure is a typed result rather than an
 * exception, so it is safe to call on untrusted input on every request.
 *
 * @module
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  sign,
  verify,
} from 'node:crypto';

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

/** Result of {@link verifyJwt}. */
export type VerifyJwtResult =
  | { readonly ok: true; readonly header: JwtHeader; readonly payload: JwtPayload }
  | { readonly ok: false; readonly reason: JwtFailureReason };

// ---------------------------------------------------------------------------------------------
// Keys

type VerifyInput = { readonly key: KeyObject; readonly dsaEncoding: 'ieee-p1363' };

/** Validated ES256 public keys → the options object passed to crypto.verify (allocated once). */
const verifyInputs = new WeakMap<KeyObject, VerifyInput>();
/** Validated ES256 private keys. */
const validSigningKeys = new WeakSet<KeyObject>();
/** Keys imported from JWK objects returned by a lookup function. */
const jwkObjectCache = new WeakMap<object, KeyObject | null>();
/** Keys imported from PEM strings returned by a lookup function (bounded). */
const pemCache = new Map<string, KeyObject | null>();
const PEM_CACHE_LIMIT = 64;

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
    if (!verifyInputs.has(key)) verifyInputs.set(key, { key, dsaEncoding: 'ieee-p1363' });
    return key;
  } catch {
    return null;
  }
}

function resolveKey(source: KeySource, kid: string): VerifyInput | undefined {
  if (typeof source === 'function') {
    const value = source(kid);
    if (value === null || value === undefined) return undefined;
    let key: KeyObject | null | undefined;
    if (value instanceof KeyObject) {
      key = verifyInputs.has(value) ? value : importVerificationKey(value);
    } else if (typeof value === 'string') {
      key = pemCache.get(value);
      if (key === undefined) {
        key = importVerificationKey(value);
        if (pemCache.size >= PEM_CACHE_LIMIT) pemCache.clear();
        pemCache.set(value, key);
      }
    } else if (typeof value === 'object') {
      key = jwkObjectCache.get(value);
      if (key === undefined) {
        key = importVerificationKey(value);
        jwkObjectCache.set(value, key);
      }
    }
    return key ? verifyInputs.get(key) : undefined;
  }
  const value = source.get(kid);
  if (value === undefined) return undefined;
  if (value instanceof KeyObject) {
    const ready = verifyInputs.get(value);
    if (ready) return ready;
  }
  const key = importVerificationKey(value);
  if (!key) return undefined;
  if (key !== value) source.set(kid, key);
  return verifyInputs.get(key);
}

function assertSigningKey(key: KeyObject): void {
  if (validSigningKeys.has(key)) return;
  if (!(key instanceof KeyObject) || key.type !== 'private' || !isP256(key)) {
    throw new TypeError('the signing key must be an ECDSA P-256 private KeyObject');
  }
  validSigningKeys.add(key);
}

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url) of a P-256 public key: the hash of
 * `{"crv":"P-256","kty":"EC","x":…,"y":…}` with exactly those members in that order.
 */
export function jwkThumbprint(jwk: { crv: string; kty: string; x: string; y: string }): string {
  const canonical = `{"crv":${JSON.stringify(jwk.crv)},"kty":${JSON.stringify(jwk.kty)},"x":${JSON.stringify(jwk.x)},"y":${JSON.stringify(jwk.y)}}`;
  return createHash('sha256').update(canonical, 'utf8').digest('base64url');
}

/**
 * The JWKS entry for an ES256 key (`kty`, `crv`, `x`, `y`, `kid`, `alg: 'ES256'`, `use: 'sig'`),
 * `kid` being the RFC 7638 thumbprint. A private key is accepted; only its public half is exported.
 *
 * @throws TypeError when the key is not an EC P-256 key.
 */
export function publicJwk(keyObject: KeyObject): EcPublicJwk {
  if (!(keyObject instanceof KeyObject) || keyObject.type === 'secret') {
    throw new TypeError('publicJwk needs an asymmetric KeyObject');
  }
  const publicKey = keyObject.type === 'private' ? createPublicKey(keyObject) : keyObject;
  if (!isP256(publicKey)) throw new TypeError('publicJwk supports ECDSA P-256 keys only');
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new TypeError('could not export the key as a JWK');
  const kid = jwkThumbprint({ crv: 'P-256', kty: 'EC', x: jwk.x, y: jwk.y });
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, alg: 'ES256', use: 'sig' };
}

/** Generates a fresh ES256 signing key; `kid` is the RFC 7638 thumbprint of its public key. */
export function generateSigningKey(): GeneratedSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicJwk(publicKey);
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
export function importSigningKey(privateKeyPem: string): SigningKey {
  const privateKey = createPrivateKey(privateKeyPem);
  assertSigningKey(privateKey);
  return { kid: publicJwk(privateKey).kid, privateKey };
}

// ---------------------------------------------------------------------------------------------
// Sign

const headerSegments = new Map<string, string>();
const HEADER_CACHE_LIMIT = 64;

function headerSegment(kid: string): string {
  let segment = headerSegments.get(kid);
  if (segment === undefined) {
    segment = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid }), 'utf8').toString('base64url');
    if (headerSegments.size >= HEADER_CACHE_LIMIT) headerSegments.clear();
    headerSegments.set(kid, segment);
  }
  return segment;
}

/**
 * Signs `payload` as a compact JWS with header `{"alg":"ES256","typ":"JWT","kid":…}`. The payload
 * is serialized as is: the caller sets `iss`, `exp`, `iat`, … (verification requires `iss` and `exp`).
 *
 * @throws TypeError on a non-object payload, an empty kid or a key that is not an EC P-256 private
 *   key; RangeError when the token would exceed {@link MAX_JWT_LENGTH}.
 */
export function signJwt(payload: Record<string, unknown>, key: SigningKey): string {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new TypeError('the JWT payload must be a JSON object');
  }
  if (typeof key.kid !== 'string' || key.kid.length === 0 || key.kid.length > MAX_KID_LENGTH) {
    throw new TypeError(`kid must be a non-empty string of at most ${MAX_KID_LENGTH} characters`);
  }
  assertSigningKey(key.privateKey);
  const signingInput = `${headerSegment(key.kid)}.${Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url')}`;
  // ES256 signatures are 86 base64url characters.
  if (signingInput.length + 87 > MAX_JWT_LENGTH) throw new RangeError('the JWT would exceed the maximum token length');
  const signature = sign('sha256', Buffer.from(signingInput, 'latin1'), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${signingInput}.${signature.toString('base64url')}`;
}

// ---------------------------------------------------------------------------------------------
// Verify

/** Three non-empty base64url segments; no padding, no whitespace. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** An ES256 signature is 64 bytes = 86 base64url characters. */
const ES256_SIGNATURE_CHARS = 86;
const BASE64URL_VALUE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
/** Scratch buffers (verification is synchronous, so sharing them is safe). */
const jsonScratch = Buffer.allocUnsafe(Math.ceil((MAX_JWT_LENGTH * 3) / 4) + 3);
const inputScratch = Buffer.allocUnsafe(MAX_JWT_LENGTH);
const signatureScratch = Buffer.allocUnsafe(64);

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

/** Decodes one base64url segment of `token` to a JSON object; `null` if it is anything else. */
function decodeSegment(token: string, start: number, end: number): Record<string, unknown> | null {
  if ((end - start) % 4 === 1) return null; // impossible base64 length
  try {
    const length = jsonScratch.write(token.slice(start, end), 0, 'base64url');
    const value: unknown = JSON.parse(fatalUtf8.decode(jsonScratch.subarray(0, length)));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
    return value as Record<string, unknown>;
  } catch {
    return null;
  }
}

function matches(value: string, accepted: string | readonly string[]): boolean {
  return typeof accepted === 'string' ? value === accepted : accepted.includes(value);
}

function isStringArray(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (const item of value) if (typeof item !== 'string') return false;
  return true;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * Verifies a compact ES256 JWS/JWT and its registered claims. Never throws on token content; the
 * checks run in this order and the first failure is reported:
 *
 * 1. `malformed`: not a string, longer than 8 KiB, not three non-empty base64url segments (padding
 *    `=` is rejected), header not a JSON object, or a `crit` header present.
 * 2. `algorithm`: `alg` is anything but `ES256` (`none`, `HS256`, `RS256`, `ES384`, missing…).
 * 3. `unknown_key` when `kid` is absent or not in `keys` (or maps to a non-P-256 key);
 *    `malformed` when `kid` is present but not a non-empty string of ≤ 256 characters.
 *    `jku`, `x5u`, `jwk` and `x5c` are ignored.
 * 4. `signature`: the signature is not 64 bytes (86 canonical base64url characters) or does not verify.
 * 5. `malformed`: payload not a JSON object, `exp` missing or not a finite number, `nbf` / `iat`
 *    present but not finite numbers, or `aud` present but neither a string nor an array of strings.
 * 6. `expired` when `now ≥ exp + tolerance`; `not_yet_valid` when `now + tolerance < nbf` or
 *    `iat > now + tolerance`.
 * 7. `issuer`: `iss` is not a string among `options.issuer`.
 * 8. `audience`: `options.audience` given and `aud` (string or string array) contains none of them.
 *
 * @throws TypeError only for invalid `options` (bad `now`, negative tolerance, empty issuer).
 */
export function verifyJwt(token: string, options: VerifyJwtOptions): VerifyJwtResult {
  const nowMs = options.now instanceof Date ? options.now.getTime() : Number.NaN;
  const tolerance = options.clockToleranceSeconds;
  if (Number.isNaN(nowMs)) throw new TypeError('options.now must be a valid Date');
  if (!(tolerance >= 0) || !Number.isFinite(tolerance)) {
    throw new TypeError('options.clockToleranceSeconds must be a finite number ≥ 0');
  }
  if (options.issuer === '' || (typeof options.issuer !== 'string' && options.issuer.length === 0)) {
    throw new TypeError('options.issuer must not be empty');
  }

  if (typeof token !== 'string' || token.length > MAX_JWT_LENGTH || !TOKEN_SHAPE.test(token)) return FAIL.malformed;
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);

  const header = decodeSegment(token, 0, dot1);
  if (header === null) return FAIL.malformed;
  if (header.alg !== 'ES256') return FAIL.algorithm;
  if (Object.hasOwn(header, 'crit')) return FAIL.malformed; // no extensions are understood
  const kid = header.kid;
  if (kid === undefined) return FAIL.unknown_key;
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) return FAIL.malformed;
  if (header.typ !== undefined && typeof header.typ !== 'string') return FAIL.malformed;

  const verifyInput = resolveKey(options.keys, kid);
  if (verifyInput === undefined) return FAIL.unknown_key;

  if (token.length - dot2 - 1 !== ES256_SIGNATURE_CHARS) return FAIL.signature;
  // 86 characters carry 516 bits; the 4 surplus bits of the last one must be zero (canonical form).
  if ((BASE64URL_VALUE.indexOf(token.charAt(token.length - 1)) & 0x0f) !== 0) return FAIL.signature;
  if (signatureScratch.write(token.slice(dot2 + 1), 0, 'base64url') !== 64) return FAIL.signature;
  const inputLength = inputScratch.write(token.slice(0, dot2), 0, 'latin1');
  let valid: boolean;
  try {
    valid = verify('sha256', inputScratch.subarray(0, inputLength), verifyInput, signatureScratch);
  } catch {
    valid = false;
  }
  if (!valid) return FAIL.signature;

  const payload = decodeSegment(token, dot1 + 1, dot2);
  if (payload === null) return FAIL.malformed;
  const { exp, nbf, iat, aud } = payload;
  if (!isFiniteNumber(exp)) return FAIL.malformed;
  if (nbf !== undefined && !isFiniteNumber(nbf)) return FAIL.malformed;
  if (iat !== undefined && !isFiniteNumber(iat)) return FAIL.malformed;
  if (aud !== undefined && typeof aud !== 'string' && !isStringArray(aud)) return FAIL.malformed;

  const now = nowMs / 1000;
  if (now - tolerance >= exp) return FAIL.expired;
  if (nbf !== undefined && now + tolerance < nbf) return FAIL.not_yet_valid;
  if (iat !== undefined && iat > now + tolerance) return FAIL.not_yet_valid;

  const iss = payload.iss;
  if (typeof iss !== 'string' || !matches(iss, options.issuer)) return FAIL.issuer;

  const expected = options.audience;
  if (expected !== undefined) {
    let found = false;
    if (typeof aud === 'string') {
      found = matches(aud, expected);
    } else if (aud !== undefined) {
      for (const item of aud) {
        if (matches(item, expected)) {
          found = true;
          break;
        }
      }
    }
    if (!found) return FAIL.audience;
  }

  return { ok: true, header: header as JwtHeader, payload: payload as JwtPayload };
}
