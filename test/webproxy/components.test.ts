/**
 * The daemon's components on their own (registration, policy follower, audit sender, status
 * server), with fakes for the control plane; the composed daemon is in daemon.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/time.js';
import type { WebAuditEvent } from '../../src/webproxy/audit-queue.js';
import { AuditSender } from '../../src/webproxy/audit-sender.js';
import type { WebProxyConfig } from '../../src/webproxy/config.js';
import { ControlPlaneError, type PolicyAnswer, type RegistrationAnswer } from '../../src/webproxy/control-plane-client.js';
import { ControlPlaneStatus } from '../../src/webproxy/control-plane-status.js';
import { WebProxyMetrics } from '../../src/webproxy/metrics.js';
import { PolicyFollower, restorePersistedPolicy } from '../../src/webproxy/policy-follower.js';
import { PolicyStore } from '../../src/webproxy/policy-store.js';
import { Registration } from '../../src/webproxy/registration.js';
import { secretFingerprint, StateDirectory, type StoredCredentials } from '../../src/webproxy/state.js';
import { StatusServer } from '../../src/webproxy/status-server.js';
import { waitFor } from '../helpers/processes.js';
import { NOW, samplePolicy } from './helpers.js';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-wp-components-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

let directories = 0;
function stateDirectory(): StateDirectory {
  const state = new StateDirectory(path.join(scratch, `state-${++directories}`));
  state.ensure();
  return state;
}

/** A logger whose lines the test can read. */
function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

function registrationConfig(overrides: Partial<WebProxyConfig['registration']> = {}): Pick<WebProxyConfig, 'registration' | 'controlPlane' | 'stateDirectory'> {
  return {
    stateDirectory: '/state',
    controlPlane: { url: 'https://cp.example.test', caCertificate: undefined, tokenUrl: 'https://cp/token', policyUrl: 'https://cp/policy', auditUrl: 'https://cp/audit' },
    registration: { trustedClientId: 'tc-1', secret: 'one-time', secretExpires: '2030-01-02T00:00:00Z', registerUrl: 'https://cp/register', ...overrides },
  };
}

function storedCredentials(overrides: Partial<StoredCredentials> = {}): StoredCredentials {
  return {
    trusted_client_id: 'tc-1',
    oauth_client_id: 'oauth-id',
    oauth_client_secret: 'oauth-secret',
    client_secret: 'client-secret',
    registered_at: NOW.toISOString(),
    registration_secret_sha256: secretFingerprint('one-time'),
    control_plane_url: 'https://cp.example.test',
    ...overrides,
  };
}

function storeCredentials(state: StateDirectory, credentials: StoredCredentials): void {
  state.writeRegistration({ credentials, privateKeyPem: 'KEY', certificatePem: 'CERT', caCertificatePem: 'CA' });
}

const answer: RegistrationAnswer = {
  trusted_client_id: 'tc-1',
  oauth_client_id: 'oauth-id',
  oauth_client_secret: 'oauth-secret',
  client_secret: 'client-secret',
  certificate: '-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n',
  ca_certificate: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
};

describe('Registration', () => {
  it('ignores stored credentials of another trusted client and stays pending', () => {
    const state = stateDirectory();
    storeCredentials(state, storedCredentials({ trusted_client_id: 'tc-other' }));
    const { logger, lines } = capturingLogger();
    const registration = new Registration({ config: registrationConfig(), state, client: { register: () => Promise.reject(new Error('unused')) }, controlPlane: new ControlPlaneStatus(new WebProxyMetrics()), logger, onRegistered: () => undefined });
    expect(registration.state).toBe('pending');
    expect(registration.credentials).toBeNull();
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'the state directory belongs to another trusted client; registering anew', stored: 'tc-other', configured: 'tc-1' }));
  });

  it('with stored credentials starts without calling the control plane', async () => {
    const state = stateDirectory();
    storeCredentials(state, storedCredentials());
    let calls = 0;
    const registration = new Registration({ config: registrationConfig(), state, client: { register: async () => (calls++, answer) }, controlPlane: new ControlPlaneStatus(new WebProxyMetrics()), logger: pino({ level: 'silent' }), onRegistered: () => undefined });
    expect(await registration.start()).toBe(true);
    expect(registration.state).toBe('registered');
    expect(calls).toBe(0);
  });

  it('registers on first start: sends a CSR with the one-time secret and stores the credentials', async () => {
    const state = stateDirectory();
    const clock = new ManualClock(NOW);
    const sent: Array<{ id: string; secret: string; csr: string }> = [];
    let registered = 0;
    const controlPlane = new ControlPlaneStatus(new WebProxyMetrics(), clock);
    const registration = new Registration({
      config: registrationConfig(),
      state,
      client: { register: async (id, secret, csr) => (sent.push({ id, secret, csr }), answer) },
      controlPlane,
      logger: pino({ level: 'silent' }),
      clock,
      onRegistered: () => registered++,
    });
    expect(await registration.start()).toBe(true);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ id: 'tc-1', secret: 'one-time' });
    expect(sent[0]!.csr).toContain('BEGIN CERTIFICATE REQUEST');
    expect(registered).toBe(1);
    expect(registration.state).toBe('registered');
    expect(state.readCredentials()).toEqual(storedCredentials({ control_plane_url: 'https://cp.example.test' }));
    expect(controlPlane.lastSuccess).toEqual(NOW);
  });

  it('refused (403) gives up at once: refused state, the error noted, nothing stored', async () => {
    const state = stateDirectory();
    const metrics = new WebProxyMetrics();
    const controlPlane = new ControlPlaneStatus(metrics);
    const registration = new Registration({
      config: registrationConfig(),
      state,
      client: { register: () => Promise.reject(new ControlPlaneError('register: HTTP 403 PERMISSION_DENIED', 403, 'PERMISSION_DENIED')) },
      controlPlane,
      logger: pino({ level: 'silent' }),
      onRegistered: () => undefined,
    });
    expect(await registration.start()).toBe(false);
    expect(registration.state).toBe('refused');
    expect(controlPlane.lastError).toBe('register: register: HTTP 403 PERMISSION_DENIED');
    expect(metrics.render()).toContain('privgate_webproxy_control_plane_errors_total{operation="register"} 1');
    expect(state.readCredentials()).toBeNull();
  });

  it('re-registers after a refusal only with a new, unexpired secret, and tries each secret once', async () => {
    const clock = new ManualClock(NOW);
    const make = (secret: string, secretExpires: string) => {
      const state = stateDirectory();
      storeCredentials(state, storedCredentials());
      let calls = 0;
      const registration = new Registration({
        config: registrationConfig({ secret, secretExpires }),
        state,
        client: { register: () => (calls++, Promise.reject(new ControlPlaneError('refused', 403))) },
        controlPlane: new ControlPlaneStatus(new WebProxyMetrics(), clock),
        logger: pino({ level: 'silent' }),
        clock,
        onRegistered: () => undefined,
      });
      return { registration, calls: () => calls };
    };
    const same = make('one-time', '2030-01-02T00:00:00Z');
    expect(await same.registration.reRegisterWithNewSecret()).toBe(false);
    expect(same.calls()).toBe(0);
    const expired = make('new-secret', '2030-01-01T11:00:00Z');
    expect(await expired.registration.reRegisterWithNewSecret()).toBe(false);
    expect(expired.calls()).toBe(0);
    const fresh = make('new-secret', '2030-01-02T00:00:00Z');
    expect(await fresh.registration.reRegisterWithNewSecret()).toBe(false);
    expect(fresh.calls()).toBe(1);
    expect(await fresh.registration.reRegisterWithNewSecret()).toBe(false);
    expect(fresh.calls()).toBe(1);
  });
});

describe('PolicyFollower', () => {
  const policyConfig = { policy: { longPollSeconds: 30, refreshIntervalSeconds: 300 } };

  it('without a persisted policy the store stays empty (fail closed); a persisted one is enforced', async () => {
    const state = stateDirectory();
    const store = new PolicyStore();
    const metrics = new WebProxyMetrics();
    const { logger, lines } = capturingLogger();
    restorePersistedPolicy({ state, store, metrics, logger });
    expect(store.index).toBeNull();
    expect(lines.at(-1)).toMatchObject({ msg: 'no policy yet: denying every request until the control plane sends one' });
    await state.writePolicy({ etag: '"e1"', fetched_at: NOW.toISOString(), policy: samplePolicy({ version: 3 }) });
    restorePersistedPolicy({ state, store, metrics, logger });
    expect(store.index?.version).toBe(3);
    expect(store.etag).toBe('"e1"');
    expect(metrics.render()).toContain('privgate_webproxy_policy_updates_total{source="state_file"} 1');
  });

  it('installs and persists a new policy, long-polls with its ETag, and stop() ends the poll in flight', async () => {
    const state = stateDirectory();
    const store = new PolicyStore();
    const metrics = new WebProxyMetrics();
    const clock = new ManualClock(NOW);
    const controlPlane = new ControlPlaneStatus(metrics, clock);
    const { logger, lines } = capturingLogger();
    const polls: Array<{ token: string; etag: string | null; wait: number }> = [];
    const client = {
      fetchPolicy: (token: string, etag: string | null, wait: number, signal?: AbortSignal): Promise<PolicyAnswer> => {
        polls.push({ token, etag, wait });
        if (polls.length === 1) return Promise.resolve({ status: 200, policy: samplePolicy({ version: 8 }), etag: '"e8"' });
        return new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(new ControlPlaneError('aborted'))));
      },
    };
    const follower = new PolicyFollower({
      config: policyConfig,
      state,
      client,
      tokens: { get: async () => 'at-1', invalidate: () => undefined },
      store,
      metrics,
      controlPlane,
      registration: { reRegisterWithNewSecret: async () => false },
      logger,
      clock,
    });
    const loop = follower.start();
    await waitFor(async () => polls.length === 2, 5000, 'the second poll');
    expect(polls).toEqual([
      { token: 'at-1', etag: null, wait: 30 },
      { token: 'at-1', etag: '"e8"', wait: 30 },
    ]);
    expect(store.index?.version).toBe(8);
    expect(state.readPolicy()).toMatchObject({ etag: '"e8"', fetched_at: NOW.toISOString(), policy: { version: 8 } });
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'policy updated', version: 8, previous: null }));
    expect(controlPlane.lastSuccess).toEqual(NOW);
    follower.stop();
    await loop;
    expect(polls).toHaveLength(2);
    expect(controlPlane.lastError).toBeNull();
  });

  it('a 401 for the access token invalidates that token; without a token a 401 asks registration for a new secret', async () => {
    const invalidated: Array<string | undefined> = [];
    let tokenCalls = 0;
    let reRegistrations = 0;
    let polls = 0;
    const store = new PolicyStore();
    const follower = new PolicyFollower({
      config: policyConfig,
      state: stateDirectory(),
      client: {
        fetchPolicy: async (token) => {
          polls++;
          if (token === 'at-1') throw new ControlPlaneError('policy: HTTP 401', 401);
          return { status: 200, policy: samplePolicy({ version: 9 }), etag: null };
        },
      },
      tokens: {
        get: async () => {
          tokenCalls++;
          if (tokenCalls === 1) throw new ControlPlaneError('token: HTTP 401', 401);
          return tokenCalls === 2 ? 'at-1' : 'at-2';
        },
        invalidate: (token) => invalidated.push(token),
      },
      store,
      metrics: new WebProxyMetrics(),
      controlPlane: new ControlPlaneStatus(new WebProxyMetrics()),
      registration: { reRegisterWithNewSecret: async () => (reRegistrations++, true) },
      logger: pino({ level: 'silent' }),
    });
    const loop = follower.start();
    // Re-registration retries at once; the refused access token waits one backoff (1 s).
    await waitFor(async () => store.index?.version === 9, 5000, 'the policy');
    follower.stop();
    await loop;
    expect(reRegistrations).toBe(1);
    expect(invalidated).toEqual(['at-1']);
    expect(polls).toBeGreaterThanOrEqual(2);
  });
});

function event(index: number): WebAuditEvent {
  return { type: 'web_request', outcome: 'deny', at: new Date(0).toISOString(), details: { index } };
}

describe('AuditSender', () => {
  it('keeps what it could not send for the next start, which queues it again', async () => {
    const state = stateDirectory();
    const metrics = new WebProxyMetrics();
    const { logger, lines } = capturingLogger();
    const unregistered = new AuditSender({ state, client: { sendAudit: () => Promise.reject(new Error('unused')) }, tokens: { get: async () => 'at', invalidate: () => undefined }, registered: () => false, metrics, logger });
    unregistered.push(event(1));
    unregistered.push(event(2));
    unregistered.start();
    await unregistered.stop();
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'kept undelivered audit events for the next start', events: 2 }));

    const sent: WebAuditEvent[][] = [];
    const next = new AuditSender({ state, client: { sendAudit: async (_token, events) => (sent.push([...events]), 200) }, tokens: { get: async () => 'at', invalidate: () => undefined }, registered: () => true, metrics, logger });
    expect(next.length).toBe(2);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'queued audit events a previous run could not deliver', events: 2 }));
    await next.stop();
    expect(sent).toEqual([[event(1), event(2)]]);
    expect(metrics.render()).toContain('privgate_webproxy_audit_events_sent_total 2');
    expect(state.takePendingAudit()).toEqual([]);
  });

  it('a 401 invalidates the token and keeps the batch; a 400 drops it for good', async () => {
    const state = stateDirectory();
    const invalidated: Array<string | undefined> = [];
    const metrics = new WebProxyMetrics();
    const { logger, lines } = capturingLogger();
    const sender = (status: number) =>
      new AuditSender({
        state,
        client: { sendAudit: async () => status },
        tokens: { get: async () => 'at-1', invalidate: (token) => invalidated.push(token) },
        registered: () => true,
        metrics,
        logger,
      });
    const refused = sender(401);
    refused.push(event(1));
    await refused.stop();
    expect(invalidated).toEqual(['at-1']);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'kept undelivered audit events for the next start', events: 1 }));

    const rejected = sender(400);
    expect(rejected.length).toBe(1);
    await rejected.stop();
    expect(rejected.length).toBe(0);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'the control plane rejected a batch of web audit events; dropped', dropped: 1 }));
    expect(metrics.render()).toContain('privgate_webproxy_audit_queue_dropped_total 1');
    expect(metrics.render()).toContain('privgate_webproxy_control_plane_errors_total{operation="audit"} 2');
    expect(state.takePendingAudit()).toEqual([]);
  });
});

describe('StatusServer', () => {
  it('reports no_policy with 503, then the policy, its age by the clock and the control plane; 405 and 404 otherwise', async () => {
    const store = new PolicyStore();
    const metrics = new WebProxyMetrics();
    const clock = new ManualClock(NOW);
    const controlPlane = new ControlPlaneStatus(metrics, clock);
    const server = new StatusServer({ host: '127.0.0.1', port: 0, store, metrics, controlPlane, registration: () => 'pending', auditQueueLength: () => 4, clock });
    const { port } = await server.listen();
    const base = `http://127.0.0.1:${port}`;
    try {
      let response = await fetch(`${base}/healthz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({
        status: 'no_policy',
        policy_version: null,
        policy_generated: null,
        policy_age_seconds: null,
        policy_source: null,
        registration: 'pending',
        control_plane: { last_success: null, last_error: null },
        audit_queue_length: 4,
      });

      store.install(samplePolicy({ version: 5 }), '"e5"', NOW, 'feed');
      controlPlane.noteSuccess();
      clock.advance(90);
      controlPlane.noteError('policy', new Error('down'));
      response = await fetch(`${base}/healthz?x=1`);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toMatchObject({
        status: 'ok',
        policy_version: 5,
        policy_age_seconds: 90,
        policy_source: 'feed',
        control_plane: { last_success: NOW.toISOString(), last_error: 'policy: down' },
      });

      response = await fetch(`${base}/metrics`);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('privgate_webproxy_control_plane_errors_total{operation="policy"} 1');
      response = await fetch(`${base}/healthz`, { method: 'POST' });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, HEAD');
      response = await fetch(`${base}/nope`);
      expect(response.status).toBe(404);
    } finally {
      await server.close();
    }
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});
