import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_AUDIT_BATCH } from '../../src/lib/contracts/audit-batch.js';
import { AuditQueue, type WebAuditEvent } from '../../src/webproxy/audit-queue.js';
import { ControlPlaneClient } from '../../src/webproxy/control-plane-client.js';
import { createTestApp, tokenWith, type TestApp } from '../helpers/app.js';
import { registeredProxyToken } from '../helpers/web-sessions.js';

// One contract, both ends: the batch the web proxy's sender posts is the body the
// monitor-service route takes, and the proxy's queue never sends more than the route accepts.
describe('audit batches, from the web proxy to monitor-service', () => {
  let testApp: TestApp;
  let client: ControlPlaneClient;
  let proxy: string;

  beforeAll(async () => {
    testApp = await createTestApp('sqlite');
    await testApp.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = testApp.app.server.address() as AddressInfo;
    const base = `http://127.0.0.1:${port}`;
    client = new ControlPlaneClient({
      caCertificate: undefined,
      tokenUrl: `${base}/auth/api/v1/oauth/token`,
      policyUrl: `${base}/authorizer/api/v1/icap/policy`,
      auditUrl: `${base}/monitor-service/api/v1/auditevents/batch`,
      registerUrl: `${base}/authorizer/api/v1/icap/register`,
    });
    proxy = await registeredProxyToken(testApp, (await tokenWith(testApp, 'admin')).token, 'audit-contract-proxy');
  });
  afterAll(async () => {
    client?.close();
    await testApp?.close();
  });

  it('the sender’s batch of every event kind the proxy produces is stored (200) as sent', async () => {
    const at = new Date().toISOString();
    const events: WebAuditEvent[] = [
      { type: 'web_request', outcome: 'allow', at, principal_id: 'user-9', principal_name: 'Alice', source_address: '10.0.0.9', object_type: 'host', object_id: 'host-9', details: { url: 'https://a.example/x' } },
      { type: 'web_file_transfer', outcome: 'deny', at, principal_id: 'user-9', object_type: 'host', object_id: 'host-9', details: { direction: 'upload', bytes: 12 } },
      { type: 'web_request', outcome: 'deny', at, details: { reason: 'session_missing' } },
    ];
    expect(await client.sendAudit(proxy, events)).toBe(200);
    const stored = await testApp.app.context.database.db.selectFrom('audit_events').select(['type', 'outcome']).where('type', 'in', ['web_request', 'web_file_transfer']).orderBy('type').orderBy('outcome').execute();
    expect(stored).toEqual([
      { type: 'web_file_transfer', outcome: 'deny' },
      { type: 'web_request', outcome: 'allow' },
      { type: 'web_request', outcome: 'deny' },
    ]);
  });

  it('a queue configured for bigger batches still sends at most what the route takes', async () => {
    const sizes: number[] = [];
    const queue = new AuditQueue({ batchSize: MAX_AUDIT_BATCH * 2, send: async (batch) => (sizes.push(batch.length), 'sent') });
    for (let index = 0; index < MAX_AUDIT_BATCH + 1; index++) queue.push({ type: 'web_request', outcome: 'allow', at: new Date().toISOString(), details: { index } });
    await queue.flush(true);
    expect(sizes[0]).toBe(MAX_AUDIT_BATCH);
  });
});
