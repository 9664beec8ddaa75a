import crypto from 'node:crypto';
import { parse } from 'smol-toml';
import { createCertificateSigningRequest } from '../../src/lib/pki/csr.js';
import type { WebPolicy } from '../../src/lib/web-policy.js';
import type { WebProxyConfigFile } from '../../src/services/authorizer/web-proxy-config.js';
import { bearer, passwordGrantRequest, type TestApp } from './app.js';

export const AUTHORIZER = '/authorizer/api/v1';
export const POLICY = `${AUTHORIZER}/icap/policy`;

function expectStatus(response: { statusCode: number; body: string }, status: number, what: string): void {
  if (response.statusCode !== status) throw new Error(`${what}: ${response.statusCode} ${response.body}`);
}

/** Creates an ICAP trusted client, downloads its config, registers as a web proxy would and returns its access token. */
export async function registeredProxyToken(testApp: TestApp, manager: string, name: string): Promise<string> {
  const inject = testApp.app.inject.bind(testApp.app);
  const created = await inject({ method: 'POST', url: '/local-user-store/api/v1/trusted-clients', headers: bearer(manager), payload: { type: 'ICAP', name, enabled: true } });
  expectStatus(created, 201, 'trusted client');
  const clientId = (created.json() as { id: string }).id;
  const session = (await inject({ method: 'POST', url: `${AUTHORIZER}/icap/conf/${clientId}`, headers: bearer(manager) })).json() as { session_id: string };
  const toml = await inject({ method: 'GET', url: `${AUTHORIZER}/icap/conf/${clientId}/${session.session_id}`, headers: bearer(manager) });
  const config = parse(toml.body) as unknown as WebProxyConfigFile;
  const { csrPem } = await createCertificateSigningRequest({ commonName: name });
  const registration = await inject({ method: 'POST', url: `${AUTHORIZER}/icap/register`, payload: { trusted_client_id: clientId, secret: config.registration.secret, csr: csrPem } });
  expectStatus(registration, 200, 'registration');
  const registered = registration.json() as { client_secret: string; oauth_client_id: string; oauth_client_secret: string };
  const grant = await inject(passwordGrantRequest({ id: clientId, secret: registered.client_secret, oauth_client_id: registered.oauth_client_id, oauth_client_secret: registered.oauth_client_secret }));
  expectStatus(grant, 200, 'proxy token');
  return (grant.json() as { access_token: string }).access_token;
}

/** A WEB host with principals `alice` and `bob`; returns its id. */
export async function createWebHost(testApp: TestApp, manager: string): Promise<string> {
  const name = `web-${crypto.randomUUID().slice(0, 8)}`;
  const response = await testApp.app.inject({
    method: 'POST',
    url: '/host-store/api/v1/hosts',
    headers: bearer(manager),
    payload: {
      common_name: `${name}.example.com`,
      name,
      addresses: [`${name}.example.com`],
      services: [{ service: 'WEB', address: `${name}.example.com`, port: 443, allowed_domains: ['*.example.com'] }],
      principals: [{ principal: 'alice' }, { principal: 'bob' }],
    },
  });
  expectStatus(response, 201, 'web host');
  return (response.json() as { id: string }).id;
}

/** A human user's token through the console's login flow (authorize, login, code exchange with PKCE). */
export async function userLogin(testApp: TestApp, username: string, password: string): Promise<string> {
  const inject = testApp.app.inject.bind(testApp.app);
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const state = crypto.randomBytes(32).toString('base64url');
  const authorize = await inject({
    method: 'GET',
    url: `/auth/api/v1/oauth/authorize?${new URLSearchParams({ client_id: 'privx-ui', redirect_uri: '/privx/oauth-callback', response_type: 'code', state, user_agent: 'privx-sdk-go', code_challenge: challenge, code_challenge_method: 'S256' })}`,
    headers: { 'content-type': 'application/json' },
  });
  expectStatus(authorize, 307, 'authorize');
  const loginToken = new URL(String(authorize.headers.location), 'https://x').searchParams.get('token');
  const login = await inject({ method: 'POST', url: '/auth/api/v1/login', payload: { username, password, token: loginToken } });
  expectStatus(login, 200, 'login');
  const exchange = await inject({
    method: 'POST',
    url: '/auth/api/v1/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ client_id: 'privx-ui', redirect_uri: '/privx/oauth-callback', grant_type: 'authorization_code', code: (login.json() as { code: string }).code, code_verifier: verifier }).toString(),
  });
  expectStatus(exchange, 200, 'code exchange');
  return (exchange.json() as { access_token: string }).access_token;
}

/** Opens a web session as the holder of `token`; returns its id and token. */
export async function openWebSession(testApp: TestApp, token: string, hostId: string, principal = 'alice'): Promise<{ session_id: string; token: string }> {
  const response = await testApp.app.inject({ method: 'POST', url: `${AUTHORIZER}/icap/sessions`, headers: bearer(token), payload: { host_id: hostId, principal } });
  expectStatus(response, 201, 'web session');
  return response.json() as { session_id: string; token: string };
}

/** The policy feed as a web proxy reads it: the document and its ETag. */
export async function readPolicy(testApp: TestApp, proxyToken: string): Promise<{ policy: WebPolicy; etag: string }> {
  const response = await testApp.app.inject({ method: 'GET', url: POLICY, headers: bearer(proxyToken) });
  expectStatus(response, 200, 'policy feed');
  return { policy: response.json() as WebPolicy, etag: String(response.headers.etag) };
}
