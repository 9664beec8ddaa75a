import { describe, expect, it } from 'vitest';
import { signJwt } from '../../src/lib/jwt.js';
import {
  AUDIO_CSP,
  decideRequest,
  decideResponse,
  extractSessionToken,
  indexPolicy,
  InvalidPolicyError,
  parseTarget,
  resolveSession,
  sessionHeadersIn,
  targetAllowed,
  validateWebPolicy,
  withPagePolicies,
  type PolicyIndex,
  type RequestFacts,
  type ResponseFacts,
  type SessionResolution,
} from '../../src/webproxy/decision.js';
import type { HttpHeaderField } from '../../src/webproxy/icap-types.js';
import { ALL_OFF, ALL_ON, bodyView, HOST_ID, KEY, multipartBody, NO_BODY, NOW, NOW_SECONDS, OTHER_KEY, samplePolicy, SESSION_ID, sessionToken } from './helpers.js';

const RULES = { maxInspectBytes: 1000, maxUploadBytes: 1000 };

function h(...pairs: Array<[string, string]>): HttpHeaderField[] {
  return pairs.map(([name, value]) => ({ name, value }));
}

function index(options: Parameters<typeof samplePolicy>[0] = {}): PolicyIndex {
  return indexPolicy(validateWebPolicy(samplePolicy(options)));
}

async function session(options: Parameters<typeof samplePolicy>[0] = {}, principal = 'alice'): Promise<SessionResolution> {
  const resolution = await resolveSession(index(options), await sessionToken({ principal }), NOW);
  if (!resolution.ok) throw new Error(`no session: ${resolution.reason}`);
  return resolution;
}

function get(target: string, headers: HttpHeaderField[] = []): RequestFacts {
  return { method: 'GET', target, headers, hasBody: false, body: NO_BODY };
}

function post(target: string, headers: HttpHeaderField[], body: ReturnType<typeof bodyView>): RequestFacts {
  return { method: 'POST', target, headers, hasBody: true, body };
}

function response(status: number, headers: HttpHeaderField[], method = 'GET', target = 'http://app.example.test:8080/file'): ResponseFacts {
  return { request: { method, target, headers: [] }, status, headers };
}

describe('validateWebPolicy', () => {
  it('accepts the feed document and keeps only known fields', () => {
    const raw = { ...samplePolicy(), extra: 1 } as Record<string, unknown>;
    (raw.hosts as Array<Record<string, unknown>>)[0]!.secret = 'x';
    const policy = validateWebPolicy(raw);
    expect(policy).not.toHaveProperty('extra');
    expect(policy.hosts[0]).not.toHaveProperty('secret');
    expect(policy.hosts[0]!.principals[1]).toEqual({ principal: 'bob', web: ALL_OFF, source: 'default' });
  });

  it.each([
    ['not an object', null],
    ['a negative version', { ...samplePolicy(), version: -1 }],
    ['a fractional version', { ...samplePolicy(), version: 1.5 }],
    ['no generated time', { ...samplePolicy(), generated: undefined }],
    ['session_keys not a list', { ...samplePolicy(), session_keys: 'x' }],
    ['hosts missing', { ...samplePolicy(), hosts: undefined }],
    ['revoked_sessions with a number', { ...samplePolicy(), revoked_sessions: [1] }],
    ['default_web without audio', { ...samplePolicy(), default_web: { file_transfer: true, clipboard: true } }],
    ['a host without services', { ...samplePolicy(), hosts: [{ id: 'h', name: 'n', allowed_domains: [], principals: [] }] }],
    ['a service without a port', { ...samplePolicy(), hosts: [{ id: 'h', name: 'n', allowed_domains: [], services: [{ address: 'a' }], principals: [] }] }],
    ['a principal with string options', { ...samplePolicy(), hosts: [{ id: 'h', name: 'n', allowed_domains: [], services: [], principals: [{ principal: 'p', web: { file_transfer: 'yes', audio: true, clipboard: true } }] }] }],
  ])('rejects %s', (_what, value) => {
    expect(() => validateWebPolicy(value)).toThrow(InvalidPolicyError);
  });

  // Where the hand validator this check replaced was more lenient than the feed's contract, the
  // contract wins: the control plane's route serialises with the same schema and never sends these.
  const host = (changes: Record<string, unknown>, principal: Record<string, unknown> = { principal: 'p', web: ALL_ON, source: 'default' }) => ({
    ...samplePolicy(),
    hosts: [{ id: 'h', name: 'n', allowed_domains: [], services: [{ address: 'a', port: 80 }], principals: [principal], ...changes }],
  });
  it.each([
    ['a fractional service port', host({ services: [{ address: 'a', port: 80.5 }] }), '/hosts/0/services/0/port'],
    ['a session key with a non-string member', { ...samplePolicy(), session_keys: [{ ...KEY.publicJwk, key_ops: ['verify'] }] }, '/session_keys/0/key_ops'],
    ['a principal without a source', host({}, { principal: 'p', web: ALL_ON }), '/hosts/0/principals/0/source'],
    ['a principal with an unknown source', host({}, { principal: 'p', web: ALL_ON, source: 'group' }), '/hosts/0/principals/0/source'],
  ])('rejects %s (the contract, not only its shape), naming where', (_what, value, where) => {
    expect(() => validateWebPolicy(value)).toThrow(InvalidPolicyError);
    expect(() => validateWebPolicy(value)).toThrow(where);
  });

  it('returns a copy: the document it was given is left as it was', () => {
    const raw = { ...samplePolicy(), extra: 1 } as Record<string, unknown>;
    validateWebPolicy(raw);
    expect(raw.extra).toBe(1);
  });

  it('indexes hosts by id, principals by name, keys by kid and normalises service addresses', () => {
    const policy = index({ revoked: ['gone'] });
    expect(policy.version).toBe(7);
    expect(policy.keys.has(KEY.kid)).toBe(true);
    expect(policy.revoked.has('gone')).toBe(true);
    const host = policy.hosts.get(HOST_ID)!;
    expect(host.services).toEqual([{ address: 'app.example.test', port: 8080 }]);
    expect(host.principals.get('bob')).toEqual(ALL_OFF);
  });
});

describe('extractSessionToken', () => {
  it('takes X-Privgate-Session from the HTTP request first', () => {
    expect(extractSessionToken(h(['Proxy-Authorization', 'Bearer icap']), h(['Proxy-Authorization', 'Bearer http']), )).toBe('http');
    expect(extractSessionToken([], h(['Proxy-Authorization', 'Bearer http'], ['X-Privgate-Session', ' direct ']))).toBe('direct');
  });

  it('takes a Bearer Proxy-Authorization, from HTTP or from the ICAP header Squid copies it into', () => {
    expect(extractSessionToken([], h(['proxy-authorization', 'bearer abc.def.ghi']))).toBe('abc.def.ghi');
    expect(extractSessionToken(h(['Proxy-Authorization', 'Bearer icap-token']), h(['Host', 'x']))).toBe('icap-token');
  });

  it('ignores other Proxy-Authorization schemes', () => {
    expect(extractSessionToken(h(['Proxy-Authorization', 'Basic dXNlcjpwYXNz']), h(['Proxy-Authorization', 'Basic dXNlcjpwYXNz']))).toBeNull();
  });

  it('falls back to the adaptation_meta headers (RESPMOD), decoding Squid’s escaping and skipping "-"', () => {
    expect(extractSessionToken(h(['X-Privgate-Session', 'meta-token']), null)).toBe('meta-token');
    expect(extractSessionToken(h(['X-Privgate-Session', '-'], ['X-Privgate-Proxy-Authorization', 'Bearer%20pa-token']), null)).toBe('pa-token');
    expect(extractSessionToken(h(['X-Privgate-Session', '-'], ['X-Privgate-Proxy-Authorization', '-']), h(['Host', 'a']))).toBeNull();
    expect(extractSessionToken([], null)).toBeNull();
  });

  it('names the HTTP headers to strip before the request goes upstream', () => {
    expect(sessionHeadersIn(h(['X-Privgate-Session', 't'], ['Proxy-Authorization', 'Bearer t']))).toEqual(['X-Privgate-Session', 'Proxy-Authorization']);
    expect(sessionHeadersIn(h(['Proxy-Authorization', 'Basic x']))).toEqual([]);
    expect(sessionHeadersIn(h(['Host', 'x']))).toEqual([]);
  });
});

describe('resolveSession', () => {
  it('without a policy fails closed with no_policy', async () => {
    expect(await resolveSession(null, await sessionToken(), NOW)).toEqual({ ok: false, reason: 'no_policy' });
  });

  it('without a token answers session_missing', async () => {
    expect(await resolveSession(index(), null, NOW)).toEqual({ ok: false, reason: 'session_missing' });
  });

  it('resolves a valid token to the CURRENT policy’s options, not the token snapshot', async () => {
    const resolution = await resolveSession(index({ web: { file_transfer: false, audio: true, clipboard: false } }), await sessionToken({ web: ALL_ON }), NOW);
    expect(resolution.ok).toBe(true);
    if (!resolution.ok) return;
    expect(resolution.session).toMatchObject({
      id: SESSION_ID,
      userId: 'user-1',
      userName: 'Alice Example',
      hostId: HOST_ID,
      hostName: 'web app',
      principal: 'alice',
      web: { file_transfer: false, audio: true, clipboard: false },
      expires: NOW_SECONDS + 3600,
    });
    expect(resolution.session.host.allowedDomains).toEqual(['*.app.example.test', 'docs.example.test']);
  });

  it.each([
    ['signed by another key', () => sessionToken({}, OTHER_KEY), 'unknown_key'],
    ['with a tampered payload', async () => {
      const [header, , signature] = (await sessionToken()).split('.');
      const payload = Buffer.from(JSON.stringify({ iss: 'privgate', aud: 'privgate-web-proxy', sid: 's', sub: 'u', host_id: HOST_ID, principal: 'alice', exp: NOW_SECONDS + 60 })).toString('base64url');
      return `${header}.${payload}.${signature}`;
    }, 'signature'],
    ['with another audience (an API access token)', () => sessionToken({ aud: 'privx-api' }), 'audience'],
    ['without an audience', () => sessionToken({ aud: undefined }), 'audience'],
    ['with another issuer', () => sessionToken({ iss: 'someone-else' }), 'issuer'],
    ['with alg none', () => `${Buffer.from('{"alg":"none","kid":"x"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`, 'malformed'],
    ['that is garbage', () => 'not-a-token', 'malformed'],
    ['not valid yet', () => sessionToken({ iat: NOW_SECONDS + 3600 }), 'not_yet_valid'],
  ])('refuses a token %s as session_invalid', async (_what, make, detail) => {
    expect(await resolveSession(index(), await make(), NOW)).toEqual({ ok: false, reason: 'session_invalid', detail });
  });

  it('refuses a token lacking the session claims', async () => {
    for (const claim of ['sid', 'sub', 'host_id', 'principal'] as const) {
      expect(await resolveSession(index(), await sessionToken({ [claim]: undefined }), NOW)).toEqual({ ok: false, reason: 'session_invalid', detail: 'claims' });
    }
  });

  it('answers session_expired past exp plus the 30 s tolerance, and accepts it inside the tolerance', async () => {
    expect(await resolveSession(index(), await sessionToken({ exp: NOW_SECONDS - 31 }), NOW)).toEqual({ ok: false, reason: 'session_expired', detail: 'expired' });
    expect((await resolveSession(index(), await sessionToken({ exp: NOW_SECONDS - 10 }), NOW)).ok).toBe(true);
  });

  it('re-checks expiry even when the verifier result was cached', async () => {
    const token = await sessionToken({ exp: NOW_SECONDS + 5 });
    const policy = index();
    const first = await resolveSession(policy, token, NOW);
    expect(first.ok).toBe(true);
    const cached = await resolveSession(policy, token, new Date(NOW.getTime() + 60_000), () => ({ ok: true, header: { alg: 'ES256', kid: KEY.kid }, payload: { iss: 'privgate', exp: NOW_SECONDS + 5, sid: SESSION_ID, sub: 'u', host_id: HOST_ID, principal: 'alice' } }));
    expect(cached).toMatchObject({ ok: false, reason: 'session_expired' });
  });

  it('refuses a revoked session, naming what it claimed', async () => {
    expect(await resolveSession(index({ revoked: [SESSION_ID] }), await sessionToken(), NOW)).toEqual({
      ok: false,
      reason: 'session_revoked',
      claimed: { sessionId: SESSION_ID, userId: 'user-1', userName: 'Alice Example', hostId: HOST_ID, principal: 'alice' },
    });
  });

  it('refuses a session whose host left the policy, or whose principal left the host', async () => {
    expect(await resolveSession(index({ hosts: [] }), await sessionToken(), NOW)).toMatchObject({ ok: false, reason: 'host_unknown' });
    expect(await resolveSession(index(), await sessionToken({ principal: 'mallory' }), NOW)).toMatchObject({ ok: false, reason: 'principal_unknown' });
  });

  it('verifies with any key of the policy (key rotation)', async () => {
    const policy = samplePolicy();
    policy.session_keys.push({ ...OTHER_KEY.publicJwk });
    expect((await resolveSession(indexPolicy(policy), await sessionToken({}, OTHER_KEY), NOW)).ok).toBe(true);
  });

  it('signJwt tokens carry a kid the policy index finds', async () => {
    const token = await signJwt({ iss: 'privgate', aud: 'privgate-web-proxy', exp: NOW_SECONDS + 10, sid: 's', sub: 'u', host_id: HOST_ID, principal: 'bob' }, KEY);
    const resolution = await resolveSession(index(), token, NOW);
    expect(resolution.ok && resolution.session.web).toEqual(ALL_OFF);
  });
});

describe('parseTarget', () => {
  it.each([
    ['GET', 'http://App.Example.Test/path/x?secret=1#frag', { scheme: 'http', host: 'app.example.test', port: 80, display: 'http://app.example.test/path/x' }],
    ['GET', 'https://app.example.test:8443/', { scheme: 'https', host: 'app.example.test', port: 8443, display: 'https://app.example.test:8443/' }],
    ['GET', 'https://app.example.test/', { scheme: 'https', host: 'app.example.test', port: 443, display: 'https://app.example.test/' }],
    ['GET', 'http://[::1]:8080/a', { scheme: 'http', host: '::1', port: 8080, display: 'http://[::1]:8080/a' }],
    ['GET', 'http://example.test./', { scheme: 'http', host: 'example.test', port: 80, display: 'http://example.test./' }],
    ['CONNECT', 'App.Example.Test:443', { scheme: 'https', host: 'app.example.test', port: 443, display: 'app.example.test:443' }],
    ['CONNECT', '[2001:db8::1]:8443', { scheme: 'https', host: '2001:db8::1', port: 8443, display: '[2001:db8::1]:8443' }],
  ])('%s %s', (method, target, expected) => {
    expect(parseTarget(method, target, [])).toEqual(expected);
  });

  it('falls back to the Host header for an origin-form target', () => {
    expect(parseTarget('GET', '/x?q', h(['Host', 'app.example.test:8080']))).toEqual({ scheme: 'http', host: 'app.example.test', port: 8080, display: 'http://app.example.test:8080/x' });
    expect(parseTarget('GET', '/x', [])).toBeNull();
  });

  it.each([
    ['CONNECT', 'no-port'],
    ['CONNECT', 'host:0'],
    ['CONNECT', 'host:70000'],
    ['CONNECT', 'http://host:443'],
    ['GET', 'not a url'],
    ['GET', 'file:///etc/passwd'],
    ['GET', 'gopher://x/'],
  ])('refuses %s %s', (method, target) => {
    expect(parseTarget(method, target, [])).toBeNull();
  });
});

describe('targetAllowed', () => {
  const host = index().hosts.get(HOST_ID)!;
  const hostWithoutDomains = index({ allowedDomains: [] }).hosts.get(HOST_ID)!;
  const target = (url: string) => parseTarget('GET', url, [])!;

  it('allows the service address on its port only', () => {
    expect(targetAllowed(target('http://app.example.test:8080/'), hostWithoutDomains)).toBe(true);
    expect(targetAllowed(target('http://APP.example.test:8080/'), hostWithoutDomains)).toBe(true);
    expect(targetAllowed(target('http://app.example.test:9090/'), hostWithoutDomains)).toBe(false);
    expect(targetAllowed(target('http://app.example.test/'), hostWithoutDomains)).toBe(false);
  });

  it('with an empty allowed-domains list allows nothing but the service addresses', () => {
    expect(targetAllowed(target('http://docs.example.test/'), hostWithoutDomains)).toBe(false);
    expect(targetAllowed(target('http://sub.app.example.test:8080/'), hostWithoutDomains)).toBe(false);
  });

  it('allows exact and wildcard domains on any port, but a wildcard not its apex or look-alikes', () => {
    expect(targetAllowed(target('http://docs.example.test/'), host)).toBe(true);
    expect(targetAllowed(target('https://docs.example.test:8443/'), host)).toBe(true);
    expect(targetAllowed(target('http://sub.app.example.test/'), host)).toBe(true);
    expect(targetAllowed(target('http://a.b.app.example.test/'), host)).toBe(true);
    expect(targetAllowed(target('http://app.example.test/'), host)).toBe(false);
    expect(targetAllowed(target('http://evilapp.example.test/'), host)).toBe(false);
    expect(targetAllowed(target('http://docs.example.test.evil.test/'), host)).toBe(false);
    expect(targetAllowed(target('http://other.example.test/'), host)).toBe(false);
  });
});

describe('decideRequest', () => {
  it.each([
    ['no_policy', { ok: false, reason: 'no_policy' } as const, 503],
    ['session_missing', { ok: false, reason: 'session_missing' } as const, 407],
    ['session_invalid', { ok: false, reason: 'session_invalid', detail: 'signature' } as const, 407],
    ['session_expired', { ok: false, reason: 'session_expired' } as const, 407],
    ['session_revoked', { ok: false, reason: 'session_revoked' } as const, 407],
    ['host_unknown', { ok: false, reason: 'host_unknown' } as const, 403],
    ['principal_unknown', { ok: false, reason: 'principal_unknown' } as const, 403],
  ])('denies %s with %i', (reason, resolution, status) => {
    const verdict = decideRequest(resolution, get('http://app.example.test:8080/'), RULES);
    expect(verdict).toMatchObject({ kind: 'deny', status, reason, target: { host: 'app.example.test' } });
  });

  it('forwards a GET to an allowed host and denies one to another domain with 403', async () => {
    expect(decideRequest(await session(), get('http://app.example.test:8080/'), RULES)).toMatchObject({ kind: 'forward', target: { host: 'app.example.test', port: 8080 } });
    expect(decideRequest(await session(), get('http://other.example.test/'), RULES)).toMatchObject({ kind: 'deny', status: 403, reason: 'domain_not_allowed', target: { host: 'other.example.test' } });
  });

  it('denies an unusable target', async () => {
    expect(decideRequest(await session(), get('mailto:x@y'), RULES)).toMatchObject({ kind: 'deny', status: 403, reason: 'bad_target' });
  });

  it('checks only the authority of a CONNECT', async () => {
    const connect = (target: string): RequestFacts => ({ method: 'CONNECT', target, headers: [], hasBody: false, body: NO_BODY });
    expect(decideRequest(await session(), connect('docs.example.test:443'), RULES)).toMatchObject({ kind: 'forward' });
    expect(decideRequest(await session({}, 'bob'), connect('docs.example.test:443'), RULES)).toMatchObject({ kind: 'forward' });
    expect(decideRequest(await session(), connect('other.example.test:443'), RULES)).toMatchObject({ kind: 'deny', reason: 'domain_not_allowed' });
  });

  describe('uploads', () => {
    const url = 'http://app.example.test:8080/upload';
    const boundary = 'XyZ';
    const multipart = (state: 'preview' | 'complete' | 'truncated' | 'unread', body: string, length = body.length) =>
      post(url, h(['Content-Type', `multipart/form-data; boundary=${boundary}`], ['Content-Length', String(length)]), bodyView(state, state === 'unread' ? '' : body));

    it('denies a multipart file upload when file transfer is off, with the file name', async () => {
      const body = multipartBody(boundary, { name: 'secret.txt', content: 'data' });
      expect(decideRequest(await session({ web: ALL_OFF }), multipart('complete', body), RULES)).toMatchObject({
        kind: 'deny',
        status: 403,
        reason: 'upload_blocked',
        transfer: { direction: 'upload', cause: 'multipart_file', filename: 'secret.txt', contentType: 'multipart/form-data', bytes: body.length },
      });
    });

    it('forwards it when file transfer is on, reporting the transfer for the audit trail', async () => {
      const body = multipartBody(boundary, { name: 'report.pdf', content: 'data' });
      expect(decideRequest(await session(), multipart('complete', body), RULES)).toMatchObject({ kind: 'forward', transfer: { direction: 'upload', filename: 'report.pdf' } });
    });

    it('forwards a multipart form without a file part, and one whose file input was left empty', async () => {
      expect(decideRequest(await session({ web: ALL_OFF }), multipart('complete', multipartBody(boundary, null)), RULES)).toEqual(expect.objectContaining({ kind: 'forward' }));
      const empty = `--${boundary}\r\nContent-Disposition: form-data; name="upload"; filename=""\r\nContent-Type: application/octet-stream\r\n\r\n\r\n--${boundary}--\r\n`;
      const verdict = decideRequest(await session({ web: ALL_OFF }), multipart('complete', empty), RULES);
      expect(verdict).toMatchObject({ kind: 'forward' });
      expect(verdict).not.toHaveProperty('transfer');
    });

    it('asks for the body when the preview shows no file part yet, and decides on the preview when it does', async () => {
      const body = multipartBody(boundary, { name: 'late.bin', content: 'x' }, 'a'.repeat(300));
      expect(decideRequest(await session({ web: ALL_OFF }), multipart('preview', body.slice(0, 100), body.length), RULES)).toEqual({ kind: 'need-body', maxBytes: 1000 });
      expect(decideRequest(await session({ web: ALL_OFF }), multipart('unread', '', body.length), RULES)).toEqual({ kind: 'need-body', maxBytes: 1000 });
      expect(decideRequest(await session({ web: ALL_OFF }), multipart('preview', body.slice(0, 500), body.length), RULES)).toMatchObject({ kind: 'deny', reason: 'upload_blocked' });
    });

    it('counts a multipart body too large to inspect as a file upload', async () => {
      const body = multipartBody(boundary, null, 'a'.repeat(2000));
      expect(decideRequest(await session({ web: ALL_OFF }), multipart('preview', body.slice(0, 100), body.length), RULES)).toMatchObject({ kind: 'deny', transfer: { cause: 'too_large' } });
      const chunked = post(url, h(['Content-Type', `multipart/form-data; boundary=${boundary}`]), bodyView('truncated', body.slice(0, 1000)));
      expect(decideRequest(await session({ web: ALL_OFF }), chunked, RULES)).toMatchObject({ kind: 'deny', transfer: { cause: 'too_large' } });
      expect(decideRequest(await session(), chunked, RULES)).toMatchObject({ kind: 'forward', transfer: { cause: 'too_large' } });
    });

    it('treats a multipart body without a boundary as a file', async () => {
      const facts = post(url, h(['Content-Type', 'multipart/form-data'], ['Content-Length', '10']), bodyView('complete', '0123456789'));
      expect(decideRequest(await session({ web: ALL_OFF }), facts, RULES)).toMatchObject({ kind: 'deny', transfer: { cause: 'file_type' } });
    });

    it.each([
      ['application/octet-stream'],
      ['application/zip'],
      ['application/pdf'],
      ['image/png'],
      [''],
    ])('denies a %s body as a file by type, from the headers alone', async (type) => {
      const headers = h(['Content-Length', '5'], ...(type ? ([['Content-Type', type]] as Array<[string, string]>) : []));
      const facts = { method: 'PUT', target: url, headers, hasBody: true, body: bodyView('unread') };
      expect(decideRequest(await session({ web: ALL_OFF }), facts, RULES)).toMatchObject({ kind: 'deny', reason: 'upload_blocked', transfer: { cause: 'file_type', contentType: type, bytes: 5 } });
    });

    it('takes the file name of a raw upload from its Content-Disposition', async () => {
      const facts = post(url, h(['Content-Type', 'application/octet-stream'], ['Content-Disposition', "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"]), bodyView('unread'));
      expect(decideRequest(await session(), facts, RULES)).toMatchObject({ kind: 'forward', transfer: { filename: 'résumé.pdf' } });
    });

    it.each([
      ['application/json'],
      ['application/x-www-form-urlencoded'],
      ['text/plain; charset=utf-8'],
      ['application/vnd.api+json'],
      ['application/soap+xml'],
    ])('forwards a small %s body without asking for more', async (type) => {
      const facts = post(url, h(['Content-Type', type], ['Content-Length', '20']), bodyView('unread'));
      const verdict = decideRequest(await session({ web: ALL_OFF }), facts, RULES);
      expect(verdict).toMatchObject({ kind: 'forward' });
      expect(verdict).not.toHaveProperty('transfer');
    });

    it('counts form data larger than the threshold as a file upload', async () => {
      const facts = post(url, h(['Content-Type', 'application/json'], ['Content-Length', '5000']), bodyView('unread'));
      expect(decideRequest(await session({ web: ALL_OFF }), facts, RULES)).toMatchObject({ kind: 'deny', transfer: { cause: 'too_large', bytes: 5000 } });
    });

    it('reads chunked form data of unknown length to learn its size', async () => {
      const headers = h(['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']);
      expect(decideRequest(await session({ web: ALL_OFF }), post(url, headers, bodyView('preview', '{"a":')), RULES)).toEqual({ kind: 'need-body', maxBytes: 1000 });
      expect(decideRequest(await session({ web: ALL_OFF }), post(url, headers, bodyView('complete', '{"a":1}')), RULES)).toMatchObject({ kind: 'forward' });
      expect(decideRequest(await session({ web: ALL_OFF }), post(url, headers, bodyView('complete', 'x'.repeat(1001))), RULES)).toMatchObject({ kind: 'deny', transfer: { cause: 'too_large' } });
      expect(decideRequest(await session({ web: ALL_OFF }), post(url, headers, bodyView('truncated', 'x'.repeat(1000))), RULES)).toMatchObject({ kind: 'deny', transfer: { cause: 'too_large' } });
    });

    it('forwards requests without a body and with an empty body', async () => {
      expect(decideRequest(await session({ web: ALL_OFF }), post(url, h(['Content-Type', 'application/octet-stream'], ['Content-Length', '0']), bodyView('complete')), RULES)).toMatchObject({ kind: 'forward' });
      expect(decideRequest(await session({ web: ALL_OFF }), { ...post(url, h(['Content-Type', 'application/octet-stream']), NO_BODY), hasBody: false }, RULES)).toMatchObject({ kind: 'forward' });
    });

    it('checks the domain before asking for a body', async () => {
      const facts = post('http://other.example.test/upload', h(['Content-Type', `multipart/form-data; boundary=${boundary}`]), bodyView('unread'));
      expect(decideRequest(await session(), facts, RULES)).toMatchObject({ kind: 'deny', reason: 'domain_not_allowed' });
    });
  });
});

describe('decideResponse', () => {
  const html = h(['Content-Type', 'text/html; charset=utf-8'], ['Content-Length', '100']);

  it('refuses a response it cannot tie to a session (403), or any without a policy (503)', () => {
    expect(decideResponse({ ok: false, reason: 'session_missing' }, response(200, html))).toMatchObject({ kind: 'deny', status: 403, reason: 'session_missing' });
    expect(decideResponse({ ok: false, reason: 'session_revoked' }, response(200, html))).toMatchObject({ kind: 'deny', status: 403, reason: 'session_revoked' });
    expect(decideResponse({ ok: false, reason: 'no_policy' }, response(200, html))).toMatchObject({ kind: 'deny', status: 503 });
  });

  it('refuses a response without its request, or for a domain outside the session', async () => {
    expect(decideResponse(await session(), { request: null, status: 200, headers: html })).toMatchObject({ kind: 'deny', reason: 'bad_target' });
    expect(decideResponse(await session(), response(200, html, 'GET', 'http://other.example.test/'))).toMatchObject({ kind: 'deny', reason: 'domain_not_allowed' });
  });

  it('delivers an HTML page unchanged when everything is allowed', async () => {
    expect(decideResponse(await session(), response(200, html))).toEqual(expect.objectContaining({ kind: 'deliver' }));
    expect(decideResponse(await session(), response(200, html))).not.toHaveProperty('headers');
  });

  it('adds Permissions-Policy for clipboard when clipboard is off', async () => {
    const verdict = decideResponse(await session({ web: { file_transfer: true, audio: true, clipboard: false } }), response(200, html));
    expect(verdict).toMatchObject({ kind: 'deliver' });
    const headers = verdict.kind === 'deliver' ? verdict.headers! : [];
    expect(headers).toContainEqual({ name: 'Permissions-Policy', value: 'clipboard-read=(), clipboard-write=()' });
    expect(headers.find((header) => header.name === 'Content-Security-Policy')).toBeUndefined();
    expect(headers).toContainEqual({ name: 'Content-Type', value: 'text/html; charset=utf-8' });
  });

  it('adds autoplay/microphone Permissions-Policy and a media-src CSP when audio is off', async () => {
    const verdict = decideResponse(await session({ web: { file_transfer: true, audio: false, clipboard: true } }), response(200, html));
    const headers = verdict.kind === 'deliver' ? verdict.headers! : [];
    expect(headers).toContainEqual({ name: 'Permissions-Policy', value: 'autoplay=(), microphone=(), speaker-selection=()' });
    expect(headers).toContainEqual({ name: 'Content-Security-Policy', value: AUDIO_CSP });
  });

  it('leaves non-document responses alone (images, scripts)', async () => {
    const verdict = decideResponse(await session({ web: ALL_OFF }), response(200, h(['Content-Type', 'image/png'])));
    expect(verdict).toEqual(expect.objectContaining({ kind: 'deliver' }));
    expect(verdict).not.toHaveProperty('headers');
  });

  it('blocks audio responses when audio is off, and only then', async () => {
    const audio = h(['Content-Type', 'audio/mpeg'], ['Content-Length', '1000']);
    expect(decideResponse(await session({ web: { file_transfer: true, audio: false, clipboard: true } }), response(200, audio))).toMatchObject({ kind: 'deny', status: 403, reason: 'audio_blocked' });
    expect(decideResponse(await session({ web: { file_transfer: false, audio: true, clipboard: true } }), response(200, audio))).toMatchObject({ kind: 'deliver' });
    expect(decideResponse(await session({ web: { file_transfer: true, audio: false, clipboard: true } }), response(200, h(['Content-Type', 'application/ogg'])))).toMatchObject({ kind: 'deny', reason: 'audio_blocked' });
  });

  it.each([
    ['an attachment', h(['Content-Type', 'text/plain'], ['Content-Disposition', 'attachment; filename="notes.txt"'], ['Content-Length', '12']), { cause: 'attachment', filename: 'notes.txt', bytes: 12, contentType: 'text/plain' }],
    ['a PDF', h(['Content-Type', 'application/pdf']), { cause: 'file_type', contentType: 'application/pdf' }],
    ['a zip', h(['Content-Type', 'application/zip']), { cause: 'file_type' }],
    ['octet-stream', h(['Content-Type', 'application/octet-stream']), { cause: 'file_type' }],
    ['a response without a type', h(['Content-Length', '10']), { cause: 'file_type', contentType: '' }],
    ['an inline PDF with a name', h(['Content-Type', 'application/pdf'], ['Content-Disposition', 'inline; filename=a.pdf']), { cause: 'file_type', filename: 'a.pdf' }],
  ])('blocks %s when file transfer is off and audits it when on', async (_what, headers, facts) => {
    expect(decideResponse(await session({ web: { file_transfer: false, audio: true, clipboard: true } }), response(200, headers))).toMatchObject({
      kind: 'deny',
      status: 403,
      reason: 'download_blocked',
      transfer: { direction: 'download', ...facts },
    });
    expect(decideResponse(await session(), response(200, headers))).toMatchObject({ kind: 'deliver', transfer: { direction: 'download', ...facts } });
  });

  it.each([
    ['a HEAD request', 200, h(['Content-Type', 'application/pdf']), 'HEAD'],
    ['a 304', 304, h(['Content-Type', 'application/pdf']), 'GET'],
    ['a 204', 204, h(['Content-Type', 'application/zip']), 'GET'],
    ['an empty body', 200, h(['Content-Type', 'application/zip'], ['Content-Length', '0']), 'GET'],
    ['an error page without a type', 404, h(['Content-Length', '10']), 'GET'],
    ['a redirect', 302, h(['Location', 'http://app.example.test:8080/']), 'GET'],
    ['JSON', 200, h(['Content-Type', 'application/json']), 'GET'],
    ['a script', 200, h(['Content-Type', 'text/javascript']), 'GET'],
    ['a font', 200, h(['Content-Type', 'font/woff2']), 'GET'],
    ['a video', 200, h(['Content-Type', 'video/mp4']), 'GET'],
    ['wasm', 200, h(['Content-Type', 'application/wasm']), 'GET'],
  ])('does not count %s as a download', async (_what, status, headers, method) => {
    const verdict = decideResponse(await session({ web: { file_transfer: false, audio: true, clipboard: true } }), response(status, headers, method));
    expect(verdict).toMatchObject({ kind: 'deliver' });
    expect(verdict).not.toHaveProperty('transfer');
  });

  it('blocks a download with attachment disposition even on an error status', async () => {
    const headers = h(['Content-Type', 'text/html'], ['Content-Disposition', 'Attachment']);
    expect(decideResponse(await session({ web: ALL_OFF }), response(500, headers))).toMatchObject({ kind: 'deny', reason: 'download_blocked' });
  });
});

describe('withPagePolicies', () => {
  it('changes nothing when clipboard and audio are allowed', () => {
    expect(withPagePolicies(h(['Content-Type', 'text/html']), ALL_ON)).toBeNull();
  });

  it('keeps the origin’s other Permissions-Policy entries in place and overrides the same features', () => {
    const headers = h(['Content-Type', 'text/html'], ['Permissions-Policy', 'geolocation=(self), clipboard-read=*'], ['X-A', '1'], ['permissions-policy', 'camera=()']);
    expect(withPagePolicies(headers, { file_transfer: true, audio: true, clipboard: false })).toEqual(
      h(['Content-Type', 'text/html'], ['Permissions-Policy', 'geolocation=(self), camera=(), clipboard-read=(), clipboard-write=()'], ['X-A', '1']),
    );
  });

  it('adds its CSP next to the origin’s without touching it', () => {
    const headers = h(['Content-Security-Policy', "default-src 'self'"]);
    expect(withPagePolicies(headers, { file_transfer: true, audio: false, clipboard: true })).toEqual(
      h(['Content-Security-Policy', "default-src 'self'"], ['Permissions-Policy', 'autoplay=(), microphone=(), speaker-selection=()'], ['Content-Security-Policy', AUDIO_CSP]),
    );
  });

  it('puts both restrictions together when clipboard and audio are off', () => {
    const result = withPagePolicies([], ALL_OFF)!;
    expect(result[0]).toEqual({ name: 'Permissions-Policy', value: 'clipboard-read=(), clipboard-write=(), autoplay=(), microphone=(), speaker-selection=()' });
  });
});
