#!/usr/bin/env node
// `npm run soak` (not in CI): minutes of mixed load on a real installation, to catch what a
// 10-second benchmark cannot — leaks, slow drift, rare errors.
//
//   privgate serve (SQLite, HTTPS) + privgate web-proxy (registered, enforcing a real policy)
//   + Squid (ICAP REQMOD/RESPMOD to the web proxy) + a loopback origin, and two load workers:
//   - API: token grants, default_service_options reads, host list pages and host searches at a
//     fixed rate, plus a settings PUT (default service options → policy version bump → the web
//     proxy long-poll fetches a new policy) every few seconds;
//   - ICAP: GETs through Squid with a web-session token at a fixed rate (1 KiB, every 50th 1 MiB).
//
// Criteria (exit status 1 when one fails): no error at all; p99 of the last minute ≤ 1.5× the
// first minute's (or at most 5 ms more); RSS of serve and web-proxy sampled every 10 s, the last
// sample ≤ 1.2× the first sample after the warm-up minute.
//
// Usage: node scripts/soak.mjs [--minutes 5] [--api-rate 100] [--icap-rate 200] [--hosts 500]
import { execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, printTable, recordValue, rssMb, ROOT } from '../bench/harness.mjs';
import { percentile } from '../bench/lib-app.mjs';
import { NEEDLE_KEYWORD, NEEDLE_TAG, hostDocument } from '../bench/lib-seed.mjs';
import { createAdminClient, passwordGrant, request, scratchDirectory, setUpWebAccess, startNodeServer, startServe, startSquid, startWebProxy, stopAll } from '../bench/lib-webproxy.mjs';

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    'api-rate': { type: 'string', default: '100' },
    'icap-rate': { type: 'string', default: '200' },
    hosts: { type: 'string', default: '500' },
    'settings-every': { type: 'string', default: '5' },
  },
});
const MINUTES = Number(flags.minutes);
const API_RATE = Number(flags['api-rate']);
const ICAP_RATE = Number(flags['icap-rate']);
const HOSTS = Number(flags.hosts);
const SETTINGS_EVERY_MS = Number(flags['settings-every']) * 1000;
if (!(MINUTES >= 2)) {
  process.stderr.write('--minutes must be at least 2 (the first and the last minute are compared)\n');
  process.exit(2);
}
const DURATION_MS = MINUTES * 60_000;
const WARMUP_MS = 60_000;
const SAMPLE_MS = 10_000;
const P99_DRIFT = 1.5;
const P99_SLACK_MS = 5;
const RSS_DRIFT = 1.2;
/** A web session lasts an hour by default: open a new one this often. */
const SESSION_RENEW_MS = 15 * 60_000;

function log(line) {
  process.stdout.write(`soak: ${line}\n`);
}

async function createHosts(serve, token, count) {
  let next = 0;
  const ids = [];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < count) {
        const index = next++;
        const answer = await request({ port: serve.port, ca: serve.ca, method: 'POST', path: '/host-store/api/v1/hosts', token, body: hostDocument(index) });
        if (answer.status !== 201) throw new Error(`create host ${index}: ${answer.status} ${answer.body}`);
        ids.push(JSON.parse(answer.body).id);
      }
    }),
  );
  return ids;
}

function startWorker(config, windows) {
  const worker = fork(path.join(ROOT, 'bench', 'lib-soak-worker.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const done = new Promise((resolve) => {
    worker.on('message', (message) => {
      if (message.type === 'window') windows.push(message);
      else if (message.type === 'settings-write') windows.settingsWrites = (windows.settingsWrites ?? 0) + 1;
      else if (message.type === 'done') resolve();
    });
    worker.on('exit', () => resolve());
  });
  worker.send({ type: 'start', config });
  return {
    worker,
    pid: worker.pid,
    name: `${config.kind} load worker`,
    send: (message) => worker.send(message),
    async stop() {
      if (worker.exitCode !== null || worker.signalCode !== null) return;
      if (worker.connected) worker.send({ type: 'stop' });
      await Promise.race([done, sleep(40_000)]);
      if (worker.exitCode === null && worker.signalCode === null) {
        worker.kill('SIGTERM');
        await Promise.race([new Promise((resolve) => worker.once('exit', resolve)), sleep(5000)]);
      }
    },
  };
}

/** p99 (ms) and request count over some windows. */
function p99Of(windows) {
  const latencies = windows.flatMap((window) => window.latencies);
  latencies.sort((a, b) => a - b);
  return { p99: percentile(latencies, 99), count: latencies.length };
}

/** The first and the last minute: six full 10-s windows each (a short final window is left out). */
function firstAndLastMinute(windows) {
  const full = windows.filter((window) => window.at - window.from >= 5_000);
  return { first: p99Of(full.slice(0, 6)), last: p99Of(full.slice(-6)) };
}

async function metricValue(metricsPort, prefix) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

async function main() {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  const root = scratchDirectory('privgate-soak-');
  const running = [];
  let failed = false;
  try {
    const [servePort, icapPort, metricsPort, squidPort] = await Promise.all(Array.from({ length: 4 }, () => freePort()));
    const origin = await startNodeServer(path.join(ROOT, 'bench', 'servers', 'origin.mjs'), ['0']);
    running.push(origin);
    const serve = await startServe({ port: servePort, dataDir: path.join(root, 'data') });
    running.push(serve);
    const admin = createAdminClient(serve.dataDir);
    const adminToken = (await passwordGrant(serve, admin)).access_token;
    log(`creating ${HOSTS} hosts through the API`);
    await createHosts(serve, adminToken, HOSTS);
    const access = await setUpWebAccess({ serve, adminToken, originPort: origin.info.port, squidPort, directory: path.join(root, 'proxy') });
    const webProxy = await startWebProxy({ configFile: access.configFile, icapPort, metricsPort, stateDir: path.join(root, 'proxy', 'state') });
    running.push(webProxy);
    const squid = await startSquid({
      name: `pgsoak${process.pid}`,
      directory: path.join(root, 'squid'),
      httpPort: squidPort,
      icap: { reqmod: `icap://127.0.0.1:${icapPort}/${access.reqmodService}`, respmod: `icap://127.0.0.1:${icapPort}/${access.respmodService}` },
    });
    running.push(squid);

    const apiWindows = [];
    const icapWindows = [];
    const started = Date.now();
    log(`running ${MINUTES} min: API ${API_RATE} req/s + settings PUT every ${SETTINGS_EVERY_MS / 1000} s, ICAP ${ICAP_RATE} req/s through Squid`);
    const api = startWorker(
      {
        kind: 'api',
        port: serve.port,
        ca: serve.ca,
        credentials: admin,
        token: adminToken,
        rate: API_RATE,
        concurrency: 8,
        hosts: HOSTS,
        keyword: NEEDLE_KEYWORD,
        tag: NEEDLE_TAG,
        settingsPath: '/settings/api/v1/settings/host-store/default_service_options',
        settingsEveryMs: SETTINGS_EVERY_MS,
      },
      apiWindows,
    );
    running.push(api);
    const icap = startWorker({ kind: 'icap', squidPort, originPort: origin.info.port, sessionToken: access.sessionToken, rate: ICAP_RATE, concurrency: 16, largeEvery: 50 }, icapWindows);
    running.push(icap);

    const samples = [];
    let lastRenewal = Date.now();
    while (Date.now() - started < DURATION_MS) {
      await sleep(Math.min(SAMPLE_MS, DURATION_MS - (Date.now() - started)));
      const at = Date.now() - started;
      const sample = { at, serve: rssMb(serve.pid), webProxy: rssMb(webProxy.pid), squid: rssMb(squid.pid) };
      samples.push(sample);
      const recent = (windows) => windows.filter((window) => window.at > Date.now() - SAMPLE_MS - 1000);
      const errors = [...recent(apiWindows), ...recent(icapWindows)].reduce((sum, window) => sum + window.errors, 0);
      log(`${(at / 1000).toFixed(0)} s: RSS serve ${sample.serve.toFixed(0)} MB, web-proxy ${sample.webProxy.toFixed(0)} MB, squid ${sample.squid.toFixed(0)} MB; errors in the last window ${errors}`);
      if (Date.now() - lastRenewal > SESSION_RENEW_MS) {
        const session = await request({ port: serve.port, ca: serve.ca, method: 'POST', path: '/authorizer/api/v1/icap/sessions', token: (await passwordGrant(serve, admin)).access_token, body: { host_id: access.hostId, principal: 'alice' } });
        if (session.status === 201) icap.send({ type: 'token', sessionToken: JSON.parse(session.body).token });
        lastRenewal = Date.now();
      }
    }
    await api.stop();
    await icap.stop();

    // ── verdicts
    const errorSamples = [...apiWindows, ...icapWindows].flatMap((window) => window.errorSamples);
    const apiErrors = apiWindows.reduce((sum, window) => sum + window.errors, 0);
    const icapErrors = icapWindows.reduce((sum, window) => sum + window.errors, 0);
    const proxyIcapErrors = await metricValue(metricsPort, 'privgate_webproxy_icap_errors_total');
    const auditDropped = await metricValue(metricsPort, 'privgate_webproxy_audit_queue_dropped_total');
    const requests = (windows) => windows.reduce((sum, window) => sum + window.latencies.length, 0);
    const totalErrors = apiErrors + icapErrors + proxyIcapErrors + auditDropped;
    recordValue(
      `Soak ${MINUTES} min: errors (API ${requests(apiWindows)} requests + ${apiWindows.settingsWrites ?? 0} settings PUTs, ICAP ${requests(icapWindows)} via Squid)`,
      totalErrors,
      `(API ${apiErrors}, ICAP ${icapErrors}, web-proxy ICAP errors ${proxyIcapErrors}, audit dropped ${auditDropped})`,
      '0',
      totalErrors === 0,
    );
    for (const [label, windows] of [
      ['API mix', apiWindows],
      ['ICAP via Squid', icapWindows],
    ]) {
      const { first, last } = firstAndLastMinute(windows);
      const drift = last.p99 / first.p99;
      const pass = drift <= P99_DRIFT || last.p99 - first.p99 <= P99_SLACK_MS;
      recordValue(`Soak ${MINUTES} min: p99 drift, ${label} (first vs last minute)`, `${first.p99.toFixed(1)} → ${last.p99.toFixed(1)}`, `ms (×${drift.toFixed(2)}; ${first.count} / ${last.count} requests)`, `≤ ${P99_DRIFT}× or ≤ +${P99_SLACK_MS} ms`, pass);
    }
    const afterWarmup = samples.filter((sample) => sample.at >= WARMUP_MS);
    for (const [label, key] of [
      ['serve', 'serve'],
      ['web-proxy', 'webProxy'],
    ]) {
      const first = afterWarmup[0]?.[key];
      const last = afterWarmup[afterWarmup.length - 1]?.[key];
      const max = Math.max(...samples.map((sample) => sample[key]));
      const drift = last / first;
      recordValue(
        `Soak ${MINUTES} min: RSS drift of ${label} (sample at ${(afterWarmup[0]?.at / 1000).toFixed(0)} s vs the last; every 10 s)`,
        `${first?.toFixed(0)} → ${last?.toFixed(0)}`,
        `MB (×${drift.toFixed(2)}, max ${max.toFixed(0)} MB, ${samples.length} samples)`,
        `≤ ${RSS_DRIFT}×`,
        drift <= RSS_DRIFT,
        { samples_mb: samples.map((sample) => [sample.at, Number(sample[key].toFixed(1))]) },
      );
    }
    if (errorSamples.length > 0) log(`first errors:\n  ${errorSamples.slice(0, 10).join('\n  ')}`);
  } catch (error) {
    failed = true;
    process.stderr.write(`soak: ${error.stack ?? error}\n`);
    recordValue('Soak: run completed', 'no', `(${error.message.split('\n')[0]})`, 'completed', false);
  } finally {
    await stopAll(running);
    fs.rmSync(root, { recursive: true, force: true });
  }
  printTable();
  const { rows } = await import('../bench/harness.mjs');
  const ok = !failed && rows.every((row) => row.pass);
  log(ok ? 'PASS' : 'FAIL');
  process.exit(ok ? 0 : 1);
}

await main();
