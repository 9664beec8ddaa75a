// ICAP data plane: Squid → privgate web-proxy (enforcing a real policy: a registered trusted
// client, a WEB host for the origin, a signed web session on every request) against Squid →
// c-icap's echo service, with the SAME squid.conf apart from the ICAP service URLs. REQMOD and
// RESPMOD, 1 KiB and 1 MiB responses from a loopback node:http origin, autocannon sending
// absolute-URI request lines (as browsers talk to a proxy) over 50 connections.
//
// Also reported: Squid with ICAP off (the ceiling, for context), and the web proxy's RSS after
// the load (the allowed-response path answers 204 after a zero-byte preview, so bodies are
// never buffered — see docs/performance.md).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, record, recordValue, rssMb, ROOT } from './harness.mjs';
import { interleaved } from './lib-load.mjs';
import {
  childPids,
  createAdminClient,
  ioBytes,
  passwordGrant,
  scratchDirectory,
  setUpWebAccess,
  startCicap,
  startNodeServer,
  startServe,
  startSquid,
  startWebProxy,
  stopAll,
} from './lib-webproxy.mjs';

const CONNECTIONS = 50;
const RATIO_BUDGET = 0.9;
const RSS_BUDGET_MB = 150;
/** Alternating rounds per side (A B B A …), each ROUND_SECONDS long: 8 s of load per side and size. */
const ROUNDS = 4;
const ROUND_SECONDS = 2;
/** Bytes the web proxy may move per allowed response (ICAP heads only): far below one body. */
const NO_COPY_BUDGET_BYTES = 16 * 1024;

/** Socket bytes read + written by a process and its children (c-icap's workers do the I/O). */
function treeIoBytes(pid) {
  return [pid, ...childPids(pid)].reduce((sum, one) => {
    try {
      const io = ioBytes(one);
      return sum + io.read + io.written;
    } catch {
      return sum;
    }
  }, 0);
}

function kib(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

/** One request through a Squid, for the sanity checks; resolves {status, bytes, block}. */
async function throughSquid(squidPort, target, headers = {}) {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const url = new URL(target);
    const outgoing = http.request({ host: '127.0.0.1', port: squidPort, method: 'GET', path: target, headers: { host: url.host, ...headers }, agent: false }, (response) => {
      let bytes = 0;
      response.on('data', (chunk) => (bytes += chunk.length));
      response.on('end', () => resolve({ status: response.statusCode, bytes, block: response.headers['x-privgate-block'] }));
    });
    outgoing.setTimeout(15_000, () => outgoing.destroy(new Error('timeout')));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

function loadOptions(squidPort, originPort, pathName, sessionToken) {
  return {
    url: `http://127.0.0.1:${squidPort}`,
    connections: CONNECTIONS,
    requests: [
      {
        method: 'GET',
        // Absolute URI: the request line a browser sends to its proxy.
        path: `http://127.0.0.1:${originPort}${pathName}`,
        headers: { host: `127.0.0.1:${originPort}`, 'x-privgate-session': sessionToken },
      },
    ],
  };
}

async function metricLines(metricsPort, prefix) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith(prefix));
}

export async function run() {
  const packages = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'ensure-system-packages.mjs'), 'squid-openssl', 'c-icap'], { encoding: 'utf8' });
  if (packages.status !== 0) {
    process.stdout.write(`  icap: Squid / c-icap unavailable — ${packages.stderr || packages.stdout}`);
    recordValue('ICAP: Squid and c-icap installed', 'no', '', 'installed', false);
    return;
  }
  const root = scratchDirectory('privgate-bench-icap-');
  const running = [];
  try {
    const [servePort, icapPort, metricsPort, cicapPort, squidOursPort, squidEchoPort, squidPlainPort] = await Promise.all(Array.from({ length: 7 }, () => freePort()));
    const origin = await startNodeServer(path.join(ROOT, 'bench', 'servers', 'origin.mjs'), ['0']);
    running.push(origin);
    const originPort = origin.info.port;

    const serve = await startServe({ port: servePort, dataDir: path.join(root, 'data') });
    running.push(serve);
    const admin = createAdminClient(serve.dataDir);
    const adminToken = (await passwordGrant(serve, admin)).access_token;
    const access = await setUpWebAccess({ serve, adminToken, originPort, squidPort: squidOursPort, directory: path.join(root, 'proxy') });
    const webProxy = await startWebProxy({ configFile: access.configFile, icapPort, metricsPort, stateDir: path.join(root, 'proxy', 'state') });
    running.push(webProxy);
    const cicap = await startCicap({ directory: path.join(root, 'c-icap'), port: cicapPort, threads: 3 * CONNECTIONS });
    running.push(cicap);

    const tag = `${process.pid}`;
    const squidOurs = await startSquid({
      name: `pgbenchours${tag}`,
      directory: path.join(root, 'squid-ours'),
      httpPort: squidOursPort,
      icap: { reqmod: `icap://127.0.0.1:${icapPort}/${access.reqmodService}`, respmod: `icap://127.0.0.1:${icapPort}/${access.respmodService}` },
    });
    running.push(squidOurs);
    const squidEcho = await startSquid({
      name: `pgbenchecho${tag}`,
      directory: path.join(root, 'squid-echo'),
      httpPort: squidEchoPort,
      icap: { reqmod: `icap://127.0.0.1:${cicapPort}/echo`, respmod: `icap://127.0.0.1:${cicapPort}/echo` },
    });
    running.push(squidEcho);
    const squidPlain = await startSquid({ name: `pgbenchplain${tag}`, directory: path.join(root, 'squid-plain'), httpPort: squidPlainPort, icap: null });
    running.push(squidPlain);

    // The policy is really enforced: no session → 407; the session → the origin's bytes.
    const target = (pathName) => `http://127.0.0.1:${originPort}${pathName}`;
    const refused = await throughSquid(squidOursPort, target('/1k'));
    if (refused.status !== 407) throw new Error(`web proxy let a request without a session through: ${refused.status}`);
    for (const [squidPort, label] of [
      [squidOursPort, 'privgate'],
      [squidEchoPort, 'c-icap echo'],
      [squidPlainPort, 'no ICAP'],
    ]) {
      for (const [pathName, size] of [
        ['/1k', 1024],
        ['/1m', 1024 * 1024],
      ]) {
        const answer = await throughSquid(squidPort, target(pathName), { 'x-privgate-session': access.sessionToken });
        if (answer.status !== 200 || answer.bytes !== size) throw new Error(`${label} ${pathName}: ${answer.status}, ${answer.bytes} bytes`);
      }
    }

    for (const [pathName, label] of [
      ['/1k', '1 KB'],
      ['/1m', '1 MB'],
    ]) {
      const sides = [
        { name: 'c-icap echo', options: loadOptions(squidEchoPort, originPort, pathName, access.sessionToken), pids: { squid: squidEcho.pid, icap: cicap.pid }, counters: { io: () => treeIoBytes(cicap.pid) } },
        { name: 'privgate', options: loadOptions(squidOursPort, originPort, pathName, access.sessionToken), pids: { squid: squidOurs.pid, icap: webProxy.pid }, counters: { io: () => treeIoBytes(webProxy.pid) } },
      ];
      if (pathName === '/1k') sides.push({ name: 'no ICAP', options: loadOptions(squidPlainPort, originPort, pathName, access.sessionToken), pids: { squid: squidPlain.pid } });
      const [baseline, ours, plain] = await interleaved(sides, { rounds: ROUNDS, seconds: ROUND_SECONDS });
      const foreign = `${(ours.foreignShare * 100).toFixed(0)} %`;
      const cpu = (side) => `ICAP ${side.cpuUsPerRequest.icap.toFixed(0)} µs + Squid ${side.cpuUsPerRequest.squid.toFixed(0)} µs`;
      process.stdout.write(
        `  icap ${label}: c-icap echo ${Math.round(baseline.rps)}/s [${baseline.rounds.join(', ')}] (${baseline.failures} failed; ${cpu(baseline)} CPU per request), ` +
          `privgate ${Math.round(ours.rps)}/s [${ours.rounds.join(', ')}] (${ours.failures} failed; ${cpu(ours)})` +
          (plain ? `, no ICAP ${Math.round(plain.rps)}/s (Squid ${plain.cpuUsPerRequest.squid.toFixed(0)} µs)` : '') +
          `; other processes used ${foreign} of the CPUs meanwhile\n`,
      );
      if (plain) recordValue(`ICAP ${label}: Squid without ICAP (the ceiling, for context)`, Math.round(plain.rps), `req/s, p99 ${plain.p99} ms`, 'none (reported)', plain.failures === 0);
      record(`ICAP ${label} GET via Squid, REQMOD+RESPMOD, ${CONNECTIONS} conns, policy enforced`, 'Squid → c-icap echo, same squid.conf', baseline, ours, (o, b, ratio) => ({
        pass: ratio >= RATIO_BUDGET && o.failures === 0,
        text: `≥ ${RATIO_BUDGET.toFixed(2)}× rps, 0 failures`,
      }));
      recordValue(
        `ICAP ${label}: CPU per request, privgate web-proxy vs c-icap echo (Squid's own beside)`,
        `${ours.cpuUsPerRequest.icap.toFixed(0)} vs ${baseline.cpuUsPerRequest.icap.toFixed(0)}`,
        `µs (Squid ${ours.cpuUsPerRequest.squid.toFixed(0)} vs ${baseline.cpuUsPerRequest.squid.toFixed(0)} µs; other processes ${foreign} of the CPUs${ours.foreignShare > 0.1 ? ' — a shared machine skews the rps ratio' : ''})`,
        'none (reported)',
        true,
        { ours_cpu_us: ours.cpuUsPerRequest, baseline_cpu_us: baseline.cpuUsPerRequest, foreign_cpu_share: ours.foreignShare, rounds_rps: { baseline: baseline.rounds, ours: ours.rounds } },
      );
      recordValue(
        `ICAP ${label}: bytes the ICAP service read + wrote per request, privgate vs c-icap echo`,
        `${kib(ours.perRequest.io)} vs ${kib(baseline.perRequest.io)}`,
        '',
        `privgate ≤ ${kib(NO_COPY_BUDGET_BYTES)} (204, no body copy)`,
        ours.perRequest.io <= NO_COPY_BUDGET_BYTES,
      );
    }

    const rss = rssMb(webProxy.pid);
    recordValue('ICAP: RSS of web-proxy after the loads', rss.toFixed(0), 'MB', `≤ ${RSS_BUDGET_MB} MB`, rss <= RSS_BUDGET_MB);
    const decisions = await metricLines(metricsPort, 'privgate_webproxy_decisions_total');
    process.stdout.write(`  icap: web-proxy decisions: ${decisions.join('; ')}\n`);
  } finally {
    await stopAll(running);
    fs.rmSync(root, { recursive: true, force: true });
  }
}
