import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'smol-toml';
import { afterAll, describe, expect, it } from 'vitest';
import type { VerifyJwtResult } from '../../src/lib/jwt.js';
import { renderWebProxyConfig, webProxyConfig } from '../../src/services/authorizer/web-proxy-config.js';
import { loadWebProxyConfig, resolveWebProxyConfig, WebProxyConfigError } from '../../src/webproxy/config.js';
import { CachedTokenVerifier, PolicyStore } from '../../src/webproxy/policy-store.js';
import { CREDENTIALS_FILE, POLICY_FILE, secretFingerprint, StateDirectory, writeFileAtomicSync } from '../../src/webproxy/state.js';
import { validateWebPolicy } from '../../src/webproxy/decision.js';
import { NOW, samplePolicy, sessionToken } from './helpers.js';
import { indexPolicy } from '../../src/webproxy/decision.js';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-wp-config-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function authorizerDocument(publicUrl = 'https://cp.example.test:8443/', caPem: string | null = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n') {
  return webProxyConfig({
    publicUrl,
    controlPlaneCaPem: caPem ?? undefined,
    trustedClientId: 'tc-1',
    registrationSecret: 'one-time',
    registrationSecretExpires: '2030-01-02T00:00:00.000Z',
    webProxyCa: { id: 'ca-1', certificatePem: '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n' },
    webProxyAddress: 'proxy.example.test',
    webProxyPort: '3128',
  });
}

describe('web-proxy config', () => {
  it('reads the TOML the authorizer writes, resolving the state directory next to the file', () => {
    const file = path.join(scratch, 'conf', 'web-proxy-config.toml');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, renderWebProxyConfig(authorizerDocument()));
    const config = loadWebProxyConfig(file);
    expect(config).toMatchObject({
      configPath: file,
      stateDirectory: path.join(scratch, 'conf', 'state'),
      controlPlane: {
        url: 'https://cp.example.test:8443',
        tokenUrl: 'https://cp.example.test:8443/auth/api/v1/oauth/token',
        policyUrl: 'https://cp.example.test:8443/authorizer/api/v1/icap/policy',
        auditUrl: 'https://cp.example.test:8443/monitor-service/api/v1/auditevents/batch',
      },
      registration: { trustedClientId: 'tc-1', secret: 'one-time', registerUrl: 'https://cp.example.test:8443/authorizer/api/v1/icap/register' },
      icap: { host: '127.0.0.1', port: 1344, reqmodService: 'privgate-reqmod', respmodService: 'privgate-respmod' },
      policy: { refreshIntervalSeconds: 300, longPollSeconds: 30 },
      logLevel: 'info',
      metrics: { host: '127.0.0.1', port: 9344 },
    });
    expect(config.controlPlane.caCertificate).toContain('BEGIN CERTIFICATE');
  });

  it('lets flags override the ICAP address, metrics address, state directory and log level', () => {
    const document = parse(renderWebProxyConfig(authorizerDocument())) as Record<string, unknown>;
    const config = resolveWebProxyConfig(document, path.join(scratch, 'x.toml'), {
      icapListen: '0.0.0.0:11344',
      metricsListen: '[::1]:9999',
      stateDir: path.join(scratch, 'elsewhere'),
      logLevel: 'debug',
    });
    expect(config.icap).toMatchObject({ host: '0.0.0.0', port: 11344 });
    expect(config.metrics).toEqual({ host: '::1', port: 9999 });
    expect(config.stateDirectory).toBe(path.join(scratch, 'elsewhere'));
    expect(config.logLevel).toBe('debug');
  });

  it('without a CA in the file trusts the system store (no CA configured)', () => {
    const document = parse(renderWebProxyConfig(authorizerDocument('https://cp.example.test', null))) as Record<string, unknown>;
    expect(resolveWebProxyConfig(document, path.join(scratch, 'x.toml')).controlPlane.caCertificate).toBeUndefined();
  });

  it.each([
    ['a missing section', (document: Record<string, unknown>) => delete document.control_plane, '[control_plane] is missing'],
    ['a missing URL', (document: Record<string, unknown>) => delete (document.control_plane as Record<string, unknown>).policy_url, 'control_plane.policy_url'],
    ['a non-http URL', (document: Record<string, unknown>) => ((document.control_plane as Record<string, unknown>).token_url = 'ftp://x'), 'control_plane.token_url'],
    ['a bad port', (document: Record<string, unknown>) => ((document.icap as Record<string, unknown>).listen_port = 70000), 'icap.listen_port'],
    ['a bad service name', (document: Record<string, unknown>) => ((document.icap as Record<string, unknown>).reqmod_service = 'a/b'), 'icap.reqmod_service'],
    ['a long poll over 60 s', (document: Record<string, unknown>) => ((document.policy as Record<string, unknown>).long_poll_seconds = 61), 'policy.long_poll_seconds'],
    ['an unknown log level', (document: Record<string, unknown>) => ((document.log as Record<string, unknown>).level = 'loud'), 'log level'],
    ['a future format', (document: Record<string, unknown>) => (document.format_version = 2), 'format_version'],
    ['a CA that is not PEM', (document: Record<string, unknown>) => ((document.control_plane as Record<string, unknown>).ca_certificate = 'nope'), 'ca_certificate'],
  ])('refuses %s, naming the key', (_what, mutate, message) => {
    const document = parse(renderWebProxyConfig(authorizerDocument())) as Record<string, unknown>;
    mutate(document);
    expect(() => resolveWebProxyConfig(document, path.join(scratch, 'x.toml'))).toThrow(message);
  });

  it('reports unreadable and invalid files', () => {
    expect(() => loadWebProxyConfig(path.join(scratch, 'missing.toml'))).toThrow(WebProxyConfigError);
    const bad = path.join(scratch, 'bad.toml');
    fs.writeFileSync(bad, 'this is = = not toml');
    expect(() => loadWebProxyConfig(bad)).toThrow('not valid TOML');
    const document = parse(renderWebProxyConfig(authorizerDocument())) as Record<string, unknown>;
    expect(() => resolveWebProxyConfig(document, bad, { metricsListen: 'nope' })).toThrow('--metrics-listen');
  });
});

describe('state directory', () => {
  it('creates the directory 0700 (tightening an existing one) and writes every file 0600', () => {
    const directory = path.join(scratch, 'state-a');
    fs.mkdirSync(directory, { mode: 0o755 });
    fs.chmodSync(directory, 0o755);
    const state = new StateDirectory(directory);
    state.ensure();
    expect(fs.statSync(directory).mode & 0o777).toBe(0o700);
    state.writeRegistration({
      credentials: {
        trusted_client_id: 'tc',
        oauth_client_id: 'oc',
        oauth_client_secret: 'os',
        client_secret: 'cs',
        registered_at: NOW.toISOString(),
        registration_secret_sha256: secretFingerprint('s'),
        control_plane_url: 'https://x',
      },
      privateKeyPem: 'KEY',
      certificatePem: 'CERT',
      caCertificatePem: 'CA',
    });
    for (const name of fs.readdirSync(directory)) expect(fs.statSync(path.join(directory, name)).mode & 0o777, name).toBe(0o600);
    expect(fs.readdirSync(directory).sort()).toEqual([CREDENTIALS_FILE, 'web-proxy-ca.pem', 'web-proxy-cert.pem', 'web-proxy-key.pem']);
    expect(state.readCredentials()).toMatchObject({ trusted_client_id: 'tc', client_secret: 'cs' });
  });

  it('reads no credentials from a missing or damaged file', () => {
    const state = new StateDirectory(path.join(scratch, 'state-b'));
    state.ensure();
    expect(state.readCredentials()).toBeNull();
    fs.writeFileSync(state.file(CREDENTIALS_FILE), '{"trusted_client_id": "x"');
    expect(state.readCredentials()).toBeNull();
    fs.writeFileSync(state.file(CREDENTIALS_FILE), '{"trusted_client_id": "x"}');
    expect(state.readCredentials()).toBeNull();
  });

  it('persists the policy atomically and reads it back validated', async () => {
    const state = new StateDirectory(path.join(scratch, 'state-c'));
    state.ensure();
    expect(state.readPolicy()).toBeNull();
    await state.writePolicy({ etag: '"7"', fetched_at: NOW.toISOString(), policy: samplePolicy() });
    expect(fs.statSync(state.file(POLICY_FILE)).mode & 0o777).toBe(0o600);
    expect(state.readPolicy()).toEqual({ etag: '"7"', fetched_at: NOW.toISOString(), policy: validateWebPolicy(samplePolicy()) });
    // No temporary files are left behind.
    expect(fs.readdirSync(state.directory)).toEqual([POLICY_FILE]);
    fs.writeFileSync(state.file(POLICY_FILE), JSON.stringify({ policy: { version: 'x' } }));
    expect(() => state.readPolicy()).toThrow();
  });

  it('replaces a file in one step, leaving the old content when the write fails', () => {
    const file = path.join(scratch, 'atomic.txt');
    writeFileAtomicSync(file, 'one');
    writeFileAtomicSync(file, 'two');
    expect(fs.readFileSync(file, 'utf8')).toBe('two');
    expect(() => writeFileAtomicSync(path.join(scratch, 'no-such-dir', 'f'), 'x')).toThrow();
    expect(fs.readFileSync(file, 'utf8')).toBe('two');
  });
});

describe('PolicyStore and CachedTokenVerifier', () => {
  it('reports loaded/version/age and ages until the control plane confirms again', () => {
    const store = new PolicyStore();
    expect(store.status(NOW)).toEqual({ loaded: false, version: null, generated: null, source: null, ageSeconds: null });
    const changes: number[] = [];
    store.onChange((index) => changes.push(index.version));
    store.install(validateWebPolicy(samplePolicy()), '"7"', NOW, 'state_file');
    expect(store.status(new Date(NOW.getTime() + 90_000))).toMatchObject({ loaded: true, version: 7, source: 'state_file', ageSeconds: 90 });
    store.confirm(new Date(NOW.getTime() + 60_000));
    expect(store.status(new Date(NOW.getTime() + 90_000)).ageSeconds).toBe(30);
    expect(store.etag).toBe('"7"');
    expect(changes).toEqual([7]);
  });

  it('verifies a token once per policy version and caches only successes', () => {
    let calls = 0;
    const cache = new CachedTokenVerifier(2, (token) => {
      calls++;
      return token === 'bad' ? { ok: false, reason: 'signature' } : { ok: true, header: { alg: 'ES256', kid: 'k' }, payload: { iss: 'privgate', exp: 1 } };
    });
    const v7 = indexPolicy(samplePolicy());
    const v8 = indexPolicy(samplePolicy({ version: 8 }));
    void cache.verifier('a', v7, NOW);
    void cache.verifier('a', v7, NOW);
    void cache.verifier('bad', v7, NOW);
    void cache.verifier('bad', v7, NOW);
    expect(calls).toBe(3);
    void cache.verifier('b', v7, NOW);
    void cache.verifier('c', v7, NOW);
    expect(cache.size).toBe(2);
    void cache.verifier('a', v8, NOW);
    expect(calls).toBe(6);
    expect(cache.size).toBe(1);
  });

  it('does not remember a verification that finished after a new policy (other keys) was installed', async () => {
    const ok: VerifyJwtResult = { ok: true, header: { alg: 'ES256', kid: 'k' }, payload: { iss: 'privgate', exp: 1 } };
    let release: (result: VerifyJwtResult) => void = () => undefined;
    let calls = 0;
    const cache = new CachedTokenVerifier(10, (token) => {
      calls++;
      return token === 'slow' && calls === 1 ? new Promise<VerifyJwtResult>((resolve) => (release = resolve)) : ok;
    });
    const v7 = indexPolicy(samplePolicy());
    const v8 = indexPolicy(samplePolicy({ version: 8 }));
    const pending = cache.verifier('slow', v7, NOW);
    expect(pending).toBeInstanceOf(Promise);
    expect(cache.verifier('other', v8, NOW)).toBe(ok); // v8 replaces v7's cache
    release(ok);
    expect(await pending).toBe(ok);
    expect(cache.size).toBe(1); // 'other' only: the v7 check is not kept under v8
    void cache.verifier('slow', v8, NOW);
    expect(calls).toBe(3);
    // Checked again under v8, it is remembered.
    expect(cache.verifier('slow', v8, NOW)).toBe(ok);
    expect(calls).toBe(3);
  });

  it('answers a remembered token synchronously and a new one with a promise', async () => {
    const cache = new CachedTokenVerifier();
    const policy = indexPolicy(samplePolicy());
    const token = await sessionToken();
    const first = cache.verifier(token, policy, NOW);
    expect(first).toBeInstanceOf(Promise);
    const verified = await first;
    expect(verified.ok).toBe(true);
    expect(cache.verifier(token, policy, NOW)).toBe(verified);
  });

  it('verifies real tokens through the cache', async () => {
    const cache = new CachedTokenVerifier();
    const result = await cache.verifier(await sessionToken(), indexPolicy(samplePolicy()), NOW);
    expect(result.ok).toBe(true);
  });
});
