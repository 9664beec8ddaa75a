import { createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  MAX_JWT_LENGTH,
  generateSigningKey,
  importSigningKey,
  jwkThumbprint,
  publicJwk,
  signJwt,
  verifyJwt,
  type KeySource,
  type VerificationKey,
  type VerifyJwtOptions,
} from '../../src/lib/jwt.js';

const ISSUER = 'https://privgate.test';
const NOW = new Date('2025-06-01T12:00:00Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);

const signer = await generateSigningKey();

function keys(): Map<string, VerificationKey> {
  return new Map<string, VerificationKey>([[signer.kid, signer.publicKey]]);
}

function options(overrides: Partial<VerifyJwtOptions> = {}): VerifyJwtOptions {
  return { keys: keys(), issuer: ISSUER, now: NOW, clockToleranceSeconds: 30, ...overrides };
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISSUER, sub: 'user-1', iat: NOW_S - 10, exp: NOW_S + 300, ...extra };
}

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64url');

/** Builds a token from raw segments and signs it with ES256 (any header content). */
function craft(header: unknown, payload: unknown, key: KeyObject = signer.privateKey): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

const goodHeader = (): Record<string, unknown> => ({ alg: 'ES256', typ: 'JWT', kid: signer.kid });

async function reasonOf(token: string, opts: VerifyJwtOptions = options()): Promise<string> {
  const result = await verifyJwt(token, opts);
  return result.ok ? 'ok' : result.reason;
}

describe('keys', () => {
  it('generateSigningKey returns a P-256 key whose kid is the RFC 7638 thumbprint', async () => {
    const key = await generateSigningKey();
    expect(key.privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(key.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const jwk = createPublicKey(key.privateKeyPem).export({ format: 'jwk' });
    const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
    expect(key.kid).toBe(createHash('sha256').update(canonical).digest('base64url'));
    expect(key.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(key.publicJwk).toEqual({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid: key.kid, alg: 'ES256', use: 'sig' });
    expect((await generateSigningKey()).kid).not.toBe(key.kid);
  });

  it('jwkThumbprint matches the RFC 7638 §3.1 construction', async () => {
    const jwk = { kty: 'EC', crv: 'P-256', x: 'abc', y: 'def' };
    expect(await jwkThumbprint(jwk)).toBe(createHash('sha256').update('{"crv":"P-256","kty":"EC","x":"abc","y":"def"}').digest('base64url'));
  });

  it('publicJwk accepts public and private keys and only exports the public half', async () => {
    const fromPublic = await publicJwk(signer.publicKey);
    const fromPrivate = await publicJwk(signer.privateKey);
    expect(fromPrivate).toEqual(fromPublic);
    expect(fromPublic).not.toHaveProperty('d');
    expect(Object.keys(fromPublic).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });

  it('publicJwk refuses non-P-256 keys', async () => {
    await expect(publicJwk(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey)).rejects.toThrow(TypeError);
    await expect(publicJwk(generateKeyPairSync('ed25519').publicKey)).rejects.toThrow(TypeError);
  });

  it('importSigningKey round-trips a stored key with the same kid', async () => {
    const imported = await importSigningKey(signer.privateKeyPem);
    expect(imported.kid).toBe(signer.kid);
    const token = await signJwt(claims(), imported);
    expect((await verifyJwt(token, options())).ok).toBe(true);
    await expect(importSigningKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).rejects.toThrow(TypeError);
  });
});

describe('signJwt', () => {
  it('produces header {alg:ES256, typ:JWT, kid} and a 64-byte P1363 signature', async () => {
    const token = await signJwt(claims(), signer);
    const [h, p, s] = token.split('.');
    expect(JSON.parse(Buffer.from(h!, 'base64url').toString())).toEqual({ alg: 'ES256', typ: 'JWT', kid: signer.kid });
    expect(JSON.parse(Buffer.from(p!, 'base64url').toString())).toEqual(claims());
    expect(Buffer.from(s!, 'base64url')).toHaveLength(64);
    expect(token).not.toContain('=');
  });

  it('round-trips through verifyJwt', async () => {
    const result = await verifyJwt(await signJwt(claims({ aud: 'api', scope: ['a', 'b'] }), signer), options({ audience: 'api' }));
    expect(result).toEqual({
      ok: true,
      header: { alg: 'ES256', typ: 'JWT', kid: signer.kid },
      payload: claims({ aud: 'api', scope: ['a', 'b'] }),
    });
  });

  it('agrees with jose both ways: jose verifies signJwt tokens, and tokens from jose SignJWT verify here', async () => {
    const token = await signJwt(claims({ aud: 'api' }), signer);
    const checked = await jwtVerify(token, signer.publicKey, { algorithms: ['ES256'], issuer: ISSUER, audience: 'api', currentDate: NOW });
    expect(checked.protectedHeader).toEqual({ alg: 'ES256', typ: 'JWT', kid: signer.kid });
    expect(checked.payload).toEqual(claims({ aud: 'api' }));
    const byJose = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: signer.kid }).sign(signer.privateKey);
    expect(await verifyJwt(byJose, options())).toEqual({ ok: true, header: { alg: 'ES256', typ: 'JWT', kid: signer.kid }, payload: claims() });
  });

  it('rejects bad payloads and keys', () => {
    expect(() => signJwt([] as unknown as Record<string, unknown>, signer)).toThrow(TypeError);
    expect(() => signJwt(null as unknown as Record<string, unknown>, signer)).toThrow(TypeError);
    expect(() => signJwt(claims(), { kid: '', privateKey: signer.privateKey })).toThrow(TypeError);
    expect(() => signJwt(claims(), { kid: 'k', privateKey: signer.publicKey })).toThrow(TypeError);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    expect(() => signJwt(claims(), { kid: 'k', privateKey: p384 })).toThrow(TypeError);
    expect(() => signJwt(claims({ big: 'x'.repeat(MAX_JWT_LENGTH) }), signer)).toThrow(RangeError);
  });
});

describe('verifyJwt accepts', () => {
  it('a token within the clock tolerance around exp / nbf / iat', async () => {
    expect(await reasonOf(await signJwt(claims({ exp: NOW_S - 29 }), signer))).toBe('ok');
    expect(await reasonOf(await signJwt(claims({ nbf: NOW_S + 29 }), signer))).toBe('ok');
    expect(await reasonOf(await signJwt(claims({ iat: NOW_S + 29 }), signer))).toBe('ok');
  });

  it('an audience given as an array, and issuer lists', async () => {
    const token = await signJwt(claims({ aud: ['other', 'api'] }), signer);
    expect(await reasonOf(token, options({ audience: 'api' }))).toBe('ok');
    expect(await reasonOf(token, options({ audience: ['x', 'other'] }))).toBe('ok');
    expect(await reasonOf(token, options({ issuer: ['https://elsewhere', ISSUER] }))).toBe('ok');
  });

  it('ignores aud when no audience is expected', async () => {
    expect(await reasonOf(await signJwt(claims({ aud: 'whatever' }), signer))).toBe('ok');
  });

  it('JWK and PEM values in the key Map, and caches the imported KeyObject there', async () => {
    const map = new Map<string, VerificationKey>([[signer.kid, { ...signer.publicJwk }]]);
    const token = await signJwt(claims(), signer);
    expect(await reasonOf(token, options({ keys: map }))).toBe('ok');
    const cached = map.get(signer.kid);
    expect(cached).toBeInstanceOf(Object);
    expect((cached as KeyObject).type).toBe('public');
    expect(await reasonOf(token, options({ keys: map }))).toBe('ok');
    expect(map.get(signer.kid)).toBe(cached); // not re-imported

    const pemMap = new Map<string, VerificationKey>([[signer.kid, signer.publicKey.export({ type: 'spki', format: 'pem' }).toString()]]);
    expect(await reasonOf(token, options({ keys: pemMap }))).toBe('ok');
    expect(typeof pemMap.get(signer.kid)).toBe('object');

    const privMap = new Map<string, VerificationKey>([[signer.kid, signer.privateKey]]);
    expect(await reasonOf(token, options({ keys: privMap }))).toBe('ok');
    expect((privMap.get(signer.kid) as KeyObject).type).toBe('public');
  });

  it('a lookup function (KeyObject, JWK or PEM)', async () => {
    const token = await signJwt(claims(), signer);
    const calls: string[] = [];
    const byKeyObject: KeySource = (kid) => {
      calls.push(kid);
      return kid === signer.kid ? signer.publicKey : undefined;
    };
    expect(await reasonOf(token, options({ keys: byKeyObject }))).toBe('ok');
    expect(calls).toEqual([signer.kid]);
    const jwk = { ...signer.publicJwk };
    expect(await reasonOf(token, options({ keys: () => jwk }))).toBe('ok');
    expect(await reasonOf(token, options({ keys: () => jwk }))).toBe('ok');
    const pem = signer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(await reasonOf(token, options({ keys: () => pem }))).toBe('ok');
  });

  it('a plain Map<string, KeyObject>', async () => {
    const plain = new Map<string, KeyObject>([[signer.kid, signer.publicKey]]);
    expect(await reasonOf(await signJwt(claims(), signer), options({ keys: plain }))).toBe('ok');
  });

  it('several keys in the same Map', async () => {
    const second = await generateSigningKey();
    const map = keys();
    map.set(second.kid, second.publicKey);
    expect(await reasonOf(await signJwt(claims(), signer), options({ keys: map }))).toBe('ok');
    expect(await reasonOf(await signJwt(claims(), second), options({ keys: map }))).toBe('ok');
  });
});

/** A valid token, signed once (describe callbacks cannot await). */
const VALID = await signJwt(claims(), signer);

describe('verifyJwt rejects', () => {
  describe('malformed', () => {
    const valid = VALID;
    const [h, p, s] = valid.split('.') as [string, string, string];

    it.each([
      ['empty string', ''],
      ['one segment', h],
      ['two segments', `${h}.${p}`],
      ['four segments', `${valid}.${s}`],
      ['empty signature segment', `${h}.${p}.`],
      ['empty header segment', `.${p}.${s}`],
      ['padding characters', `${h}=.${p}.${s}`],
      ['standard base64 alphabet', `${h}+.${p}.${s}`],
      ['whitespace', ` ${valid}`],
      ['trailing newline', `${valid}\n`],
      ['header not JSON', `${b64('not json')}.${p}.${s}`],
      ['header JSON array', `${b64([goodHeader()])}.${p}.${s}`],
      ['header JSON string', `${b64('"ES256"')}.${p}.${s}`],
      ['header JSON null', `${b64('null')}.${p}.${s}`],
      ['header invalid UTF-8', `${Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64url')}.${p}.${s}`],
    ])('%s', async (_name, token) => {
      expect(await reasonOf(token)).toBe('malformed');
    });

    it('a segment whose length is impossible for base64 (4n+1)', async () => {
      let header = h;
      while (header.length % 4 !== 1) header += 'A';
      expect(await reasonOf(`${header}.${p}.${s}`)).toBe('malformed');
    });

    it('non-string tokens', async () => {
      for (const token of [undefined, null, 42, {}, ['a.b.c']]) {
        expect(await reasonOf(token as unknown as string)).toBe('malformed');
      }
    });

    it('tokens over 8 KiB, even when otherwise valid', async () => {
      const big = craft(goodHeader(), claims({ pad: 'x'.repeat(MAX_JWT_LENGTH) }));
      expect(big.length).toBeGreaterThan(MAX_JWT_LENGTH);
      expect(await reasonOf(big)).toBe('malformed');
      const justFits = await signJwt(claims({ pad: 'x'.repeat(5500) }), signer);
      expect(justFits.length).toBeLessThanOrEqual(MAX_JWT_LENGTH);
      expect(await reasonOf(justFits)).toBe('ok');
    });

    it('a crit header', async () => {
      expect(await reasonOf(craft({ ...goodHeader(), crit: ['exp'] }, claims()))).toBe('malformed');
    });

    it('a kid that is not a non-empty string', async () => {
      for (const kid of ['', 42, null, ['k'], { k: 1 }, 'k'.repeat(257)]) {
        expect(await reasonOf(craft({ ...goodHeader(), kid }, claims()))).toBe('malformed');
      }
    });

    it('a non-string typ', async () => {
      expect(await reasonOf(craft({ ...goodHeader(), typ: 1 }, claims()))).toBe('malformed');
    });

    it('a payload that is not a JSON object (signature valid)', async () => {
      for (const payload of ['"string"', '[1,2]', 'null', '42', 'not json', 'true']) {
        expect(await reasonOf(craft(goodHeader(), payload))).toBe('malformed');
      }
    });

    it('exp missing or not a finite number', async () => {
      const { exp: _omit, ...noExp } = claims();
      expect(await reasonOf(craft(goodHeader(), noExp))).toBe('malformed');
      for (const exp of [String(NOW_S + 300), null, true, [NOW_S + 300], { n: 1 }]) {
        expect(await reasonOf(craft(goodHeader(), claims({ exp })))).toBe('malformed');
      }
      // JSON cannot carry NaN/Infinity; 1e999 parses to Infinity.
      const infinite = `{"iss":"${ISSUER}","exp":1e999}`;
      expect(await reasonOf(craft(goodHeader(), infinite))).toBe('malformed');
    });

    it('nbf or iat present but not numbers', async () => {
      expect(await reasonOf(craft(goodHeader(), claims({ nbf: 'now' })))).toBe('malformed');
      expect(await reasonOf(craft(goodHeader(), claims({ nbf: null })))).toBe('malformed');
      expect(await reasonOf(craft(goodHeader(), claims({ iat: '1' })))).toBe('malformed');
      expect(await reasonOf(craft(goodHeader(), `{"iss":"${ISSUER}","exp":${NOW_S + 60},"iat":-1e999}`))).toBe('malformed');
    });

    it('aud neither a string nor an array of strings', async () => {
      expect(await reasonOf(craft(goodHeader(), claims({ aud: 42 })))).toBe('malformed');
      expect(await reasonOf(craft(goodHeader(), claims({ aud: ['api', 1] }))), 'even without an expected audience').toBe('malformed');
    });
  });

  describe('algorithm', () => {
    it.each(['none', 'None', 'NONE', 'HS256', 'HS384', 'HS512', 'RS256', 'PS256', 'ES384', 'ES512', 'EdDSA', 'es256', 'ES256 ', ''])(
      'alg %j',
      async (alg) => {
        expect(await reasonOf(craft({ ...goodHeader(), alg }, claims()))).toBe('algorithm');
      },
    );

    it('alg missing or not a string', async () => {
      const { alg: _omit, ...noAlg } = goodHeader();
      expect(await reasonOf(craft(noAlg, claims()))).toBe('algorithm');
      expect(await reasonOf(craft({ ...goodHeader(), alg: ['ES256'] }, claims()))).toBe('algorithm');
      expect(await reasonOf(craft({ ...goodHeader(), alg: null }, claims()))).toBe('algorithm');
    });

    it('alg none with an empty signature', async () => {
      const token = `${b64({ alg: 'none', typ: 'JWT', kid: signer.kid })}.${b64(claims())}.`;
      expect(await reasonOf(token)).toBe('malformed'); // empty segment is structurally invalid
      const withJunk = `${b64({ alg: 'none', typ: 'JWT', kid: signer.kid })}.${b64(claims())}.AAAA`;
      expect(await reasonOf(withJunk)).toBe('algorithm');
    });

    it('HS256 tokens keyed with the public key (PEM, DER, JWK JSON, x coordinate)', async () => {
      const header = b64({ alg: 'HS256', typ: 'JWT', kid: signer.kid });
      const input = `${header}.${b64(claims())}`;
      const secrets: Array<string | Buffer> = [
        signer.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        signer.publicKey.export({ type: 'spki', format: 'der' }),
        JSON.stringify(signer.publicJwk),
        Buffer.from(signer.publicJwk.x, 'base64url'),
      ];
      for (const secret of secrets) {
        const mac = createHmac('sha256', secret).update(input).digest('base64url');
        expect(await reasonOf(`${input}.${mac}`)).toBe('algorithm');
      }
      // Same with keys supplied as PEM / JWK values in the Map.
      const mac = createHmac('sha256', secrets[0]!).update(input).digest('base64url');
      const pemKeys = new Map<string, VerificationKey>([[signer.kid, secrets[0] as string]]);
      expect(await reasonOf(`${input}.${mac}`, options({ keys: pemKeys }))).toBe('algorithm');
      const jwkKeys = new Map<string, VerificationKey>([[signer.kid, { ...signer.publicJwk }]]);
      expect(await reasonOf(`${input}.${mac}`, options({ keys: jwkKeys }))).toBe('algorithm');
    });

    it('an RS256 token signed by an attacker RSA key', async () => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const input = `${b64({ alg: 'RS256', kid: signer.kid })}.${b64(claims())}`;
      const sig = sign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url');
      expect(await reasonOf(`${input}.${sig}`)).toBe('algorithm');
    });
  });

  describe('unknown_key', () => {
    it('a missing kid', async () => {
      const { kid: _omit, ...noKid } = goodHeader();
      expect(await reasonOf(craft(noKid, claims()))).toBe('unknown_key');
    });

    it('a kid not in the key set', async () => {
      const other = await generateSigningKey();
      expect(await reasonOf(await signJwt(claims(), other))).toBe('unknown_key');
      expect(await reasonOf(await signJwt(claims(), signer), options({ keys: new Map() }))).toBe('unknown_key');
      expect(await reasonOf(await signJwt(claims(), signer), options({ keys: () => undefined }))).toBe('unknown_key');
      expect(await reasonOf(await signJwt(claims(), signer), options({ keys: () => null }))).toBe('unknown_key');
    });

    it('prototype-ish kids do not resolve', async () => {
      for (const kid of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
        expect(await reasonOf(craft({ ...goodHeader(), kid }, claims()))).toBe('unknown_key');
      }
    });

    it('an embedded jwk / jku / x5u / x5c is ignored (the attacker key is never used or fetched)', async () => {
      const attacker = await generateSigningKey();
      const header = {
        alg: 'ES256',
        kid: attacker.kid,
        jwk: attacker.publicJwk,
        jku: 'http://127.0.0.1:1/jwks.json',
        x5u: 'http://127.0.0.1:1/cert.pem',
        x5c: ['MIIB'],
      };
      expect(await reasonOf(craft(header, claims(), attacker.privateKey))).toBe('unknown_key');
      // Even with our kid, a signature by the embedded key fails.
      expect(await reasonOf(craft({ ...header, kid: signer.kid }, claims(), attacker.privateKey))).toBe('signature');
      // And with our key and signature, the extra headers are simply ignored.
      expect(await reasonOf(craft({ ...header, kid: signer.kid }, claims()))).toBe('ok');
    });

    it('a kid that maps to an unusable key', async () => {
      const token = await signJwt(claims(), signer);
      const bad = new Map<string, VerificationKey>([[signer.kid, generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey]]);
      expect(await reasonOf(token, options({ keys: bad }))).toBe('unknown_key');
      const rsaJwk = new Map<string, VerificationKey>([[signer.kid, { kty: 'RSA', n: 'AQAB', e: 'AQAB' } as VerificationKey]]);
      expect(await reasonOf(token, options({ keys: rsaJwk }))).toBe('unknown_key');
      const garbagePem = new Map<string, VerificationKey>([[signer.kid, 'not a pem']]);
      expect(await reasonOf(token, options({ keys: garbagePem }))).toBe('unknown_key');
      const hmacJwk = new Map<string, VerificationKey>([[signer.kid, { kty: 'oct', k: 'c2VjcmV0' } as VerificationKey]]);
      expect(await reasonOf(token, options({ keys: hmacJwk }))).toBe('unknown_key');
    });
  });

  describe('signature', () => {
    const valid = VALID;
    const [h, p, s] = valid.split('.') as [string, string, string];

    it('a signature from another key with the same kid', async () => {
      const other = await generateSigningKey();
      expect(await reasonOf(craft(goodHeader(), claims(), other.privateKey))).toBe('signature');
    });

    it('a modified payload', async () => {
      const forged = `${h}.${b64(claims({ sub: 'admin' }))}.${s}`;
      expect(await reasonOf(forged)).toBe('signature');
    });

    it('a modified header that still names the same key', async () => {
      const forged = `${b64({ alg: 'ES256', kid: signer.kid })}.${p}.${s}`;
      expect(await reasonOf(forged)).toBe('signature');
    });

    it('flipped signature bits', async () => {
      const sig = Buffer.from(s, 'base64url');
      sig[10] = sig[10]! ^ 0x01;
      expect(await reasonOf(`${h}.${p}.${sig.toString('base64url')}`)).toBe('signature');
    });

    it('a DER-encoded ECDSA signature instead of P1363', async () => {
      const der = sign('sha256', Buffer.from(`${h}.${p}`), signer.privateKey).toString('base64url');
      expect(await reasonOf(`${h}.${p}.${der}`)).toBe('signature');
    });

    it('wrong signature lengths', async () => {
      expect(await reasonOf(`${h}.${p}.${s.slice(0, -2)}`)).toBe('signature');
      expect(await reasonOf(`${h}.${p}.${s}AA`)).toBe('signature');
      expect(await reasonOf(`${h}.${p}.AAAA`)).toBe('signature');
    });

    it('a non-canonical last signature character', async () => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(s.at(-1)!);
      const tweaked = `${h}.${p}.${s.slice(0, -1)}${alphabet[last | 1]}`;
      expect(Buffer.from(tweaked.split('.')[2]!, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true);
      expect(await reasonOf(tweaked)).toBe('signature');
    });

    it('an all-zero signature', async () => {
      expect(await reasonOf(`${h}.${p}.${Buffer.alloc(64).toString('base64url')}`)).toBe('signature');
    });
  });

  describe('time', () => {
    it('expired (beyond tolerance, including exactly at exp + tolerance)', async () => {
      expect(await reasonOf(await signJwt(claims({ exp: NOW_S - 31 }), signer))).toBe('expired');
      expect(await reasonOf(await signJwt(claims({ exp: NOW_S - 30 }), signer))).toBe('expired');
      expect(await reasonOf(await signJwt(claims({ exp: NOW_S }), signer), options({ clockToleranceSeconds: 0 }))).toBe('expired');
      expect(await reasonOf(await signJwt(claims({ exp: NOW_S + 1 }), signer), options({ clockToleranceSeconds: 0 }))).toBe('ok');
    });

    it('not yet valid by nbf', async () => {
      expect(await reasonOf(await signJwt(claims({ nbf: NOW_S + 31 }), signer))).toBe('not_yet_valid');
      expect(await reasonOf(await signJwt(claims({ nbf: NOW_S + 1 }), signer), options({ clockToleranceSeconds: 0 }))).toBe('not_yet_valid');
      expect(await reasonOf(await signJwt(claims({ nbf: NOW_S }), signer), options({ clockToleranceSeconds: 0 }))).toBe('ok');
    });

    it('issued in the future (iat)', async () => {
      expect(await reasonOf(await signJwt(claims({ iat: NOW_S + 31 }), signer))).toBe('not_yet_valid');
    });

    it('uses options.now, not the wall clock', async () => {
      const token = await signJwt(claims(), signer);
      expect(await reasonOf(token, options({ now: new Date(NOW.getTime() + 3600_000) }))).toBe('expired');
      expect(await reasonOf(token, options({ now: new Date(NOW.getTime() - 3600_000) }))).toBe('not_yet_valid');
    });
  });

  describe('several failing claims: the first in the order malformed, expired, not yet valid, issuer, audience', () => {
    it.each([
      ['expired with a wrong issuer', claims({ exp: NOW_S - 600, iss: 'https://evil.test' }), 'expired'],
      ['expired without an issuer', { sub: 'u', exp: NOW_S - 600 }, 'expired'],
      ['expired with a wrong audience', claims({ exp: NOW_S - 600, aud: 'other' }), 'expired'],
      ['not yet valid (nbf) with a wrong issuer', claims({ nbf: NOW_S + 600, iss: 'https://evil.test' }), 'not_yet_valid'],
      ['issued in the future with a wrong audience', claims({ iat: NOW_S + 600, aud: 'other' }), 'not_yet_valid'],
      ['expired and not yet valid', claims({ exp: NOW_S - 600, nbf: NOW_S + 600 }), 'expired'],
      ['without exp or iss', { sub: 'u' }, 'malformed'],
      ['with a non-numeric nbf and a wrong issuer', claims({ nbf: 'soon', iss: 'https://evil.test' }), 'malformed'],
      ['with an infinite exp and a wrong audience', `{"iss":"${ISSUER}","aud":"other","exp":1e999}`, 'malformed'],
      ['with a wrong issuer and a wrong audience', claims({ iss: 'https://evil.test', aud: 'other' }), 'issuer'],
    ])('%s', async (_what, payload, expected) => {
      expect(await reasonOf(craft(goodHeader(), payload), options({ audience: 'api' }))).toBe(expected);
    });
  });

  describe('issuer', () => {
    it.each([['https://evil.test'], [undefined], [42], [['https://privgate.test']], [''], ['https://privgate.test/']])('iss %j', async (iss) => {
      expect(await reasonOf(craft(goodHeader(), { ...claims(), iss }))).toBe('issuer');
    });

    it('iss not in an issuer list', async () => {
      expect(await reasonOf(await signJwt(claims(), signer), options({ issuer: ['a', 'b'] }))).toBe('issuer');
    });
  });

  describe('audience', () => {
    it('missing aud when one is expected', async () => {
      expect(await reasonOf(await signJwt(claims(), signer), options({ audience: 'api' }))).toBe('audience');
    });

    it('a different audience (string and array)', async () => {
      expect(await reasonOf(await signJwt(claims({ aud: 'other' }), signer), options({ audience: 'api' }))).toBe('audience');
      expect(await reasonOf(await signJwt(claims({ aud: ['x', 'y'] }), signer), options({ audience: ['api', 'web'] }))).toBe('audience');
      expect(await reasonOf(await signJwt(claims({ aud: [] }), signer), options({ audience: 'api' }))).toBe('audience');
    });
  });

  it('never throws on hostile input', async () => {
    const samples = [
      '...',
      'a.b.c',
      `${b64('{"alg":"ES256","kid":"' + signer.kid + '"')}.${b64('{}')}.${'A'.repeat(86)}`,
      `${b64(`{"alg":"ES256","kid":"${signer.kid}","__proto__":{"polluted":true}}`)}.${b64('{"__proto__":{"admin":true}}')}.${'A'.repeat(86)}`,
      `${b64(goodHeader())}.${b64('{"exp":1,"iss":"' + ISSUER + '"')}.${'A'.repeat(86)}`,
      'x'.repeat(100_000),
    ];
    for (const token of samples) {
      expect(() => verifyJwt(token, options())).not.toThrow();
      await expect(verifyJwt(token, options())).resolves.toMatchObject({ ok: false });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('verifyJwt options', () => {
  const token = VALID;

  it('throws TypeError for invalid options only', () => {
    expect(() => verifyJwt(token, options({ now: new Date(Number.NaN) }))).toThrow(TypeError);
    expect(() => verifyJwt(token, options({ now: 'now' as unknown as Date }))).toThrow(TypeError);
    expect(() => verifyJwt(token, options({ clockToleranceSeconds: -1 }))).toThrow(TypeError);
    expect(() => verifyJwt(token, options({ clockToleranceSeconds: Number.NaN }))).toThrow(TypeError);
    expect(() => verifyJwt(token, options({ clockToleranceSeconds: Number.POSITIVE_INFINITY }))).toThrow(TypeError);
    expect(() => verifyJwt(token, options({ issuer: '' }))).toThrow(TypeError);
    expect(() => verifyJwt(token, options({ issuer: [] }))).toThrow(TypeError);
  });

  it('returns shared frozen failure results', async () => {
    const a = await verifyJwt('x', options());
    const b = await verifyJwt('y', options());
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('verifies the same token repeatedly and across interleaved, concurrent calls', async () => {
    const other = await generateSigningKey();
    const map = keys();
    map.set(other.kid, other.publicJwk);
    const t1 = await signJwt(claims({ n: 1 }), signer);
    const t2 = await signJwt(claims({ n: 2, long: 'y'.repeat(3000) }), other);
    for (let i = 0; i < 50; i++) {
      const [r1, r2] = await Promise.all([verifyJwt(t1, options({ keys: map })), verifyJwt(t2, options({ keys: map }))]);
      expect(r1.ok && r1.payload.n).toBe(1);
      expect(r2.ok && r2.payload.n).toBe(2);
    }
  });

  it('works with a key loaded from a private PEM via createPrivateKey', async () => {
    const privateKey = createPrivateKey(signer.privateKeyPem);
    const t = await signJwt(claims(), { kid: signer.kid, privateKey });
    expect(await reasonOf(t)).toBe('ok');
  });
});
