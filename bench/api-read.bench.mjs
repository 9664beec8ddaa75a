// API read path: GET /host-store/api/v1/settings/default_service_options with a bearer token over
// HTTPS, against a bare node:https server returning the same JSON with no auth. Same load, same
// certificate, alternating rounds in one run. Also reports the RSS of `serve` after the load.
import fs from 'node:fs';
import { freePort, record, recordValue, rssMb, startServer, ROOT } from './harness.mjs';
import { interleaved } from './lib-load.mjs';

export async function run() {
  const oursPort = await freePort();
  const ours = await startServer(`${ROOT}/bench/servers/privgate.mjs`, [String(oursPort)]);
  const tlsDir = `${ours.info.dataDir}/tls`;
  const basePort = await freePort();
  const base = await startServer(`${ROOT}/bench/servers/bare-https.mjs`, [String(basePort), tlsDir]);
  try {
    const ca = fs.readFileSync(ours.info.caFile);
    const { credentials } = ours.info;
    const tokenResponse = await fetchToken(oursPort, credentials, ca);
    const path = '/host-store/api/v1/settings/default_service_options';
    // Alternating 2 s rounds (A B B A …, 8 s per side): this machine has phases in which every
    // process runs slower, and one long run per side let a phase land on one side only.
    const [baseline, oursResult] = await interleaved(
      [
        { name: 'bare', options: { url: `https://127.0.0.1:${basePort}${path}`, tlsOptions: { ca }, connections: 20 }, pids: { server: base.child.pid } },
        { name: 'privgate', options: { url: `https://127.0.0.1:${oursPort}${path}`, headers: { authorization: `Bearer ${tokenResponse.access_token}` }, tlsOptions: { ca }, connections: 20 }, pids: { server: ours.child.pid } },
      ],
      { rounds: 4, seconds: 2, warmupSeconds: 2 },
    );
    record('API read: default_service_options (HTTPS, bearer)', 'bare node:https, same JSON, no auth', baseline, oursResult, (o, b, ratio) => ({
      pass: ratio >= 0.7 && o.p99 <= 2 * Math.max(b.p99, 1) && o.failures === 0,
      text: '≥ 0.70× rps, p99 ≤ 2× baseline',
    }));
    // The rps ratio also depends on how much CPU the load generator leaves (it shares the cores);
    // the server's own CPU per request is the overhead privgate adds, independent of that.
    recordValue(
      'API read: server CPU per request, privgate vs bare node:https',
      `${oursResult.cpuUsPerRequest.server.toFixed(1)} vs ${baseline.cpuUsPerRequest.server.toFixed(1)}`,
      'µs',
      'none (reported)',
      true,
      { ours_cpu_us: oursResult.cpuUsPerRequest.server, baseline_cpu_us: baseline.cpuUsPerRequest.server, ours_rounds: oursResult.rounds, baseline_rounds: baseline.rounds },
    );
    const rss = rssMb(ours.child.pid);
    recordValue('RSS of serve after the API benchmarks', rss.toFixed(0), 'MB', '≤ 200 MB', rss <= 200);
    return { ours, oursPort, ca };
  } finally {
    await base.stop();
    await ours.stop();
  }
}

export async function fetchToken(port, credentials, ca) {
  const https = await import('node:https');
  const body = new URLSearchParams({ grant_type: 'password', username: credentials.id, password: credentials.secret }).toString();
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/auth/api/v1/oauth/token',
        method: 'POST',
        ca,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${credentials.oauth_client_id}:${credentials.oauth_client_secret}`).toString('base64')}`,
        },
      },
      (response) => {
        let data = '';
        response.on('data', (chunk) => (data += chunk));
        response.on('end', () => (response.statusCode === 200 ? resolve(JSON.parse(data)) : reject(new Error(`token: ${response.statusCode} ${data}`))));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
