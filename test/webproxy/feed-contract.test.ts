import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateWebPolicy } from '../../src/webproxy/decision.js';
import { bearer, createTestApp, tokenWith, type TestApp } from '../helpers/app.js';
import { openWebSession, POLICY, registeredProxyToken } from '../helpers/web-sessions.js';

// One contract, both ends: what the authorizer's route puts on the wire is exactly what the web
// proxy's check accepts and keeps.
describe('the web policy feed, as the web proxy reads it', () => {
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await createTestApp('sqlite');
  });
  afterAll(async () => testApp?.close());

  it('a real feed document (a principal override, a revoked session) passes the proxy check unchanged', async () => {
    const admin = (await tokenWith(testApp, 'admin')).token;
    const user = (await tokenWith(testApp, ['web-access'])).token;
    const proxy = await registeredProxyToken(testApp, admin, 'contract-proxy');
    const created = await testApp.app.inject({
      method: 'POST',
      url: '/host-store/api/v1/hosts',
      headers: bearer(admin),
      payload: {
        common_name: 'contract.example.com',
        name: 'contract',
        addresses: ['contract.example.com'],
        services: [{ service: 'WEB', address: 'contract.example.com', port: 8443, allowed_domains: ['*.contract.example.com'] }],
        principals: [{ principal: 'alice' }, { principal: 'bob', service_options: { web: { file_transfer: false, audio: false, clipboard: true } } }],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const hostId = (created.json() as { id: string }).id;
    const session = await openWebSession(testApp, user, hostId, 'alice');
    const revoked = await testApp.app.inject({ method: 'DELETE', url: `/authorizer/api/v1/icap/sessions/${session.session_id}`, headers: bearer(user) });
    expect(revoked.statusCode, revoked.body).toBe(200);

    const response = await testApp.app.inject({ method: 'GET', url: POLICY, headers: bearer(proxy) });
    expect(response.statusCode).toBe(200);
    const wire: unknown = JSON.parse(response.body);
    const accepted = validateWebPolicy(wire);
    expect(accepted).toEqual(wire);
    expect(accepted.revoked_sessions).toEqual([session.session_id]);
    expect(accepted.session_keys.length).toBeGreaterThan(0);
    const host = accepted.hosts.find((candidate) => candidate.id === hostId)!;
    expect(host.principals.map((principal) => principal.source)).toEqual(['default', 'principal']);
  });
});
