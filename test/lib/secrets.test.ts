import { createHmac, randomBytes, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  PASSWORD_HASH_PARAMETERS,
  hashPassword,
  keyedHash,
  newId,
  passwordHashNeedsRehash,
  randomToken,
  safeEqual,
  verifyPassword,
} from '../../src/lib/secrets.js';

describe('randomToken', () => {
  it('encodes 32 random bytes as 43 base64url characters by default', () => {
    const token = randomToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
  });

  it('honours the byte count and is unique', () => {
    expect(Buffer.from(randomToken(16), 'base64url')).toHaveLength(16);
    expect(randomToken(1)).toMatch(/^[A-Za-z0-9_-]{2}$/);
    const seen = new Set(Array.from({ length: 1000 }, () => randomToken()));
    expect(seen.size).toBe(1000);
  });

  it('rejects silly sizes', () => {
    for (const bytes of [0, -1, 1.5, 1025, Number.NaN]) expect(() => randomToken(bytes)).toThrow(RangeError);
  });
});

describe('newId', () => {
  it('returns distinct lower-case v4 UUIDs', () => {
    const ids = Array.from({ length: 100 }, () => newId());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(100);
  });
});

describe('hashPassword / verifyPassword', () => {
  it('produces a self-describing scrypt string', async () => {
    const encoded = await hashPassword('correct horse battery staple');
    const parts = encoded.split('$');
    expect(parts.slice(0, 4)).toEqual(['scrypt', '16384', '8', '1']);
    expect(Buffer.from(parts[4]!, 'base64')).toHaveLength(16);
    expect(Buffer.from(parts[5]!, 'base64')).toHaveLength(64);
    // Independent recomputation with the documented parameters.
    const expected = scryptSync('correct horse battery staple', Buffer.from(parts[4]!, 'base64'), 64, { N: 16384, r: 8, p: 1 });
    expect(parts[5]).toBe(expected.toString('base64'));
    expect(PASSWORD_HASH_PARAMETERS).toMatchObject({ N: 16384, r: 8, p: 1, saltBytes: 16, keyBytes: 64 });
  });

  it('uses a fresh salt every time', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    expect(a).not.toBe(b);
    expect(await verifyPassword('same', a)).toBe(true);
    expect(await verifyPassword('same', b)).toBe(true);
  });

  it('verifies the right password and rejects wrong ones', async () => {
    const encoded = await hashPassword('pässwörd ✓');
    expect(await verifyPassword('pässwörd ✓', encoded)).toBe(true);
    expect(await verifyPassword('passwörd ✓', encoded)).toBe(false);
    expect(await verifyPassword('', encoded)).toBe(false);
    expect(await verifyPassword('pässwörd ✓ ', encoded)).toBe(false);
  });

  it('handles the empty password', async () => {
    const encoded = await hashPassword('');
    expect(await verifyPassword('', encoded)).toBe(true);
    expect(await verifyPassword(' ', encoded)).toBe(false);
  });

  it('verifies hashes made with other (bounded) parameters', async () => {
    const salt = randomBytes(16);
    const key = scryptSync('pw', salt, 32, { N: 1024, r: 4, p: 2 });
    const encoded = `scrypt$1024$4$2$${salt.toString('base64')}$${key.toString('base64')}`;
    expect(await verifyPassword('pw', encoded)).toBe(true);
    expect(await verifyPassword('px', encoded)).toBe(false);
    expect(passwordHashNeedsRehash(encoded)).toBe(true);
    expect(passwordHashNeedsRehash(await hashPassword('pw'))).toBe(false);
  });

  it('returns false (never throws) on malformed encodings', async () => {
    const good = await hashPassword('pw');
    const [, , , , salt = '', key = ''] = good.split('$');
    const malformed: unknown[] = [
      '',
      'scrypt',
      'bcrypt$16384$8$1$' + salt + '$' + key,
      `scrypt$16384$8$1$${salt}`,
      `scrypt$16384$8$1$${salt}$${key}$extra`,
      `scrypt$16383$8$1$${salt}$${key}`, // N not a power of two
      `scrypt$1048576000$8$1$${salt}$${key}`, // absurd N
      `scrypt$2097152$8$1$${salt}$${key}`, // N above 2^20
      `scrypt$16384$0$1$${salt}$${key}`,
      `scrypt$16384$8$0$${salt}$${key}`,
      `scrypt$16384$64$1$${salt}$${key}`,
      `scrypt$16384$8$99$${salt}$${key}`,
      `scrypt$016384$8$1$${salt}$${key}`,
      `scrypt$16384.0$8$1$${salt}$${key}`,
      `scrypt$-16384$8$1$${salt}$${key}`,
      `scrypt$16384$8$1$!!!!$${key}`,
      `scrypt$16384$8$1$${salt}$${key.slice(0, -4)}!!!!`,
      `scrypt$16384$8$1$$${key}`,
      `scrypt$16384$8$1$${salt}$`,
      `scrypt$16384$8$1$QQ$${key}`, // salt too short (and unpadded)
      `scrypt$16384$8$1$${salt}$QUJD`, // key too short
      'x'.repeat(5000),
      null,
      undefined,
      42,
      {},
    ];
    for (const encoded of malformed) {
      await expect(verifyPassword('pw', encoded as string)).resolves.toBe(false);
    }
    await expect(verifyPassword(undefined as unknown as string, good)).resolves.toBe(false);
    await expect(verifyPassword('x'.repeat(5000), good)).resolves.toBe(false);
    expect(passwordHashNeedsRehash('garbage')).toBe(true);
  });

  it('rejects overlong or non-string passwords when hashing', async () => {
    await expect(hashPassword('x'.repeat(4097))).rejects.toThrow(TypeError);
    await expect(hashPassword(42 as unknown as string)).rejects.toThrow(TypeError);
  });
});

describe('keyedHash', () => {
  const key = Buffer.alloc(32, 7);

  it('is HMAC-SHA-256 in lower-case hex', () => {
    expect(keyedHash('token', key)).toBe(createHmac('sha256', key).update('token').digest('hex'));
    expect(keyedHash('token', key)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is deterministic per key and differs across keys and inputs', () => {
    expect(keyedHash('a', key)).toBe(keyedHash('a', key));
    expect(keyedHash('a', key)).not.toBe(keyedHash('b', key));
    expect(keyedHash('a', key)).not.toBe(keyedHash('a', Buffer.alloc(32, 8)));
  });

  it('refuses short keys', () => {
    expect(() => keyedHash('a', Buffer.alloc(15))).toThrow(TypeError);
    expect(() => keyedHash('a', 'string-key' as unknown as Buffer)).toThrow(TypeError);
  });
});

describe('safeEqual', () => {
  it('compares strings', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('', '')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('abc', '')).toBe(false);
    expect(safeEqual('é', 'e\u0301')).toBe(false);
    expect(safeEqual('x'.repeat(10_000), 'x'.repeat(10_000))).toBe(true);
  });

  it('treats non-strings as unequal instead of throwing', () => {
    expect(safeEqual(undefined as unknown as string, undefined as unknown as string)).toBe(false);
    expect(safeEqual('a', null as unknown as string)).toBe(false);
  });
});
