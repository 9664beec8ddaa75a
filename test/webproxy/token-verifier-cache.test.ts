import { describe, expect, it } from 'vitest';
import type { VerifyJwtResult } from '../../src/lib/jwt.js';
import { indexPolicy } from '../../src/webproxy/decision.js';
import { CachedTokenVerifier } from '../../src/webproxy/policy-store.js';
import { NOW, samplePolicy } from './helpers.js';

describe('CachedTokenVerifier eviction', () => {
  it('drops the least recently used token when full, not the first one verified', () => {
    const verified: string[] = [];
    const cache = new CachedTokenVerifier(2, (token): VerifyJwtResult => {
      verified.push(token);
      return { ok: true, header: { alg: 'ES256', kid: 'k' }, payload: { iss: 'privgate', exp: 1 } };
    });
    const policy = indexPolicy(samplePolicy());
    void cache.verifier('a', policy, NOW);
    void cache.verifier('b', policy, NOW);
    void cache.verifier('a', policy, NOW); // a is now the most recently used
    void cache.verifier('c', policy, NOW); // evicts b
    expect(cache.size).toBe(2);
    void cache.verifier('a', policy, NOW);
    void cache.verifier('c', policy, NOW);
    expect(verified).toEqual(['a', 'b', 'c']);
    void cache.verifier('b', policy, NOW);
    expect(verified).toEqual(['a', 'b', 'c', 'b']);
  });
});
