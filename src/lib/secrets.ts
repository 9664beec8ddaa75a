/**
 * Random identifiers and tokens, password hashing (scrypt) and constant-time comparisons.
 *
 * @module
 */
import { createHmac, randomBytes, randomUUID, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost parameters used for new password hashes. */
export const PASSWORD_HASH_PARAMETERS = Object.freeze({ N: 16384, r: 8, p: 1, saltBytes: 16, keyBytes: 64 });

/**
 * Bounds accepted when *verifying* a stored hash, so that a corrupted or hostile stored string
 * cannot make {@link verifyPassword} burn unbounded CPU or memory.
 */
const VERIFY_LIMITS = { minLogN: 10, maxLogN: 20, maxR: 32, maxP: 16, minSalt: 8, maxSalt: 64, minKey: 16, maxKey: 128 };

const MAX_PASSWORD_BYTES = 4096;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const DECIMAL = /^[1-9][0-9]{0,9}$/;

/**
 * A random token of `bytes` random bytes, base64url encoded without padding (32 bytes → 43 characters).
 *
 * @throws RangeError unless `bytes` is an integer from 1 to 1024.
 */
export function randomToken(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1024) {
    throw new RangeError('bytes must be an integer from 1 to 1024');
  }
  return randomBytes(bytes).toString('base64url');
}

/** A new random (version 4) UUID in lower-case canonical form. */
export function newId(): string {
  return randomUUID();
}

function scryptAsync(password: Buffer, salt: Buffer, keyBytes: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyBytes, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** scrypt needs 128·N·r bytes; leave headroom over that. */
function maxmemFor(N: number, r: number): number {
  return 128 * N * r * 2 + 1024 * 1024;
}

/**
 * Hashes a password with scrypt (N=16384, r=8, p=1, 16-byte random salt, 64-byte key).
 *
 * The result is self-describing: `scrypt$16384$8$1$<salt base64>$<key base64>` (standard base64
 * with padding), so the parameters can be raised later without breaking old hashes.
 *
 * @throws TypeError when `password` is not a string or is longer than 4096 UTF-8 bytes.
 */
export async function hashPassword(password: string): Promise<string> {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
  const passwordBytes = Buffer.from(password, 'utf8');
  if (passwordBytes.length > MAX_PASSWORD_BYTES) throw new TypeError('password is too long');
  const { N, r, p, saltBytes, keyBytes } = PASSWORD_HASH_PARAMETERS;
  const salt = randomBytes(saltBytes);
  const key = await scryptAsync(passwordBytes, salt, keyBytes, { N, r, p, maxmem: maxmemFor(N, r) });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function decodeBase64Strict(text: string): Buffer | null {
  if (!BASE64.test(text) || text.length % 4 !== 0) return null;
  const buf = Buffer.from(text, 'base64');
  // Reject non-canonical encodings (e.g. stray bits in the last character).
  return buf.toString('base64') === text ? buf : null;
}

function parseEncodedHash(encoded: string): ParsedHash | null {
  if (typeof encoded !== 'string' || encoded.length > 1024) return null;
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [, nText = '', rText = '', pText = '', saltText = '', keyText = ''] = parts;
  if (!DECIMAL.test(nText) || !DECIMAL.test(rText) || !DECIMAL.test(pText)) return null;
  const N = Number(nText);
  const r = Number(rText);
  const p = Number(pText);
  const logN = Math.log2(N);
  if (!Number.isInteger(logN) || logN < VERIFY_LIMITS.minLogN || logN > VERIFY_LIMITS.maxLogN) return null;
  if (r > VERIFY_LIMITS.maxR || p > VERIFY_LIMITS.maxP) return null;
  const salt = decodeBase64Strict(saltText);
  const key = decodeBase64Strict(keyText);
  if (!salt || salt.length < VERIFY_LIMITS.minSalt || salt.length > VERIFY_LIMITS.maxSalt) return null;
  if (!key || key.length < VERIFY_LIMITS.minKey || key.length > VERIFY_LIMITS.maxKey) return null;
  return { N, r, p, salt, key };
}

/**
 * Checks `password` against a hash produced by {@link hashPassword}, comparing in constant time.
 *
 * Never throws: a malformed `encoded` string, parameters outside sane bounds (N from 2^10 to 2^20,
 * r ≤ 32, p ≤ 16), a non-string password or an internal scrypt failure all yield `false`.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  try {
    if (typeof password !== 'string') return false;
    const parsed = parseEncodedHash(encoded);
    if (!parsed) return false;
    const passwordBytes = Buffer.from(password, 'utf8');
    if (passwordBytes.length > MAX_PASSWORD_BYTES) return false;
    const { N, r, p, salt, key } = parsed;
    const candidate = await scryptAsync(passwordBytes, salt, key.length, { N, r, p, maxmem: maxmemFor(N, r) });
    return timingSafeEqual(candidate, key);
  } catch {
    return false;
  }
}

/**
 * Whether a stored hash uses weaker parameters than {@link PASSWORD_HASH_PARAMETERS} (or is not
 * parseable) and should be replaced by a fresh {@link hashPassword} after a successful login.
 */
export function passwordHashNeedsRehash(encoded: string): boolean {
  const parsed = parseEncodedHash(encoded);
  if (!parsed) return true;
  const want = PASSWORD_HASH_PARAMETERS;
  return parsed.N < want.N || parsed.r < want.r || parsed.p < want.p || parsed.salt.length < want.saltBytes || parsed.key.length < want.keyBytes;
}

/**
 * HMAC-SHA-256 of `secret` under `key`, lower-case hex (64 characters).
 *
 * Meant for storing server-generated, high-entropy secrets (API tokens, client secrets, session
 * ids) so that a database leak does not reveal them while lookups stay a cheap equality match. Do
 * not use it for passwords — use {@link hashPassword}.
 *
 * @throws TypeError when `key` is shorter than 16 bytes.
 */
export function keyedHash(secret: string, key: Buffer): string {
  if (!Buffer.isBuffer(key) || key.length < 16) throw new TypeError('key must be a Buffer of at least 16 bytes');
  return createHmac('sha256', key).update(secret, 'utf8').digest('hex');
}

/** Per-process random key for {@link safeEqual}; never leaves this module. */
const SAFE_EQUAL_KEY = randomBytes(32);

/**
 * Compares two strings in constant time, also when their lengths differ: both are HMAC-SHA-256'd
 * under a per-process random key and the fixed-length digests are compared with `timingSafeEqual`.
 * Non-string arguments compare unequal.
 */
export function safeEqual(a: string, b: string): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const da = createHmac('sha256', SAFE_EQUAL_KEY).update(a, 'utf8').digest();
  const db = createHmac('sha256', SAFE_EQUAL_KEY).update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}
