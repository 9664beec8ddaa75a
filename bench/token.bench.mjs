// Token endpoint: privgate's password grant for an API client (exactly as the Python SDK sends it)
// against oidc-provider's client_credentials grant, both over HTTPS on loopback, same load.
import fs from 'node:fs';
import { fetchToken } from './api-read.bench.mjs';
import { freePort, measure, record, startServer, ROOT } from './harness.mjs';

export async function run() {
  const oursPort = await freePort();
  const ours = await startServer(`${ROOT}/bench/servers/privgate.mjs`, [String(oursPort)]);
  const basePort = await freePort();
  const base = await startServer(`${ROOT}/bench/servers/oidc-provider.mjs`, [String(basePort), `${ours.info.dataDir}/tls`]);
  try {
    const ca = fs.readFileSync(ours.info.caFile);
    const { credentials } = ours.info;
    await fetchToken(oursPort, credentials, ca);
    const baseline = await measure({
      url: `https://127.0.0.1:${basePort}/token`,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('bench:bench-secret-bench-secret-bench-secret').toString('base64')}` },
      body: 'grant_type=client_credentials&scope=api',
      tlsOptions: { ca },
    });
    const oursResult = await measure({
      url: `https://127.0.0.1:${oursPort}/auth/api/v1/oauth/token`,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${credentials.oauth_client_id}:${credentials.oauth_client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'password', username: credentials.id, password: credentials.secret }).toString(),
      tlsOptions: { ca },
    });
    record('Token endpoint: password grant (API client)', 'oidc-provider client_credentials', baseline, oursResult, (o, b, ratio) => ({ pass: ratio >= 1.0 && o.failures === 0, text: '≥ 1.0× rps' }));
  } finally {
    await base.stop();
    await ours.stop();
  }
}
