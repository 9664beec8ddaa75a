// The web-access data plane as real processes, for the ICAP benchmark and the soak run:
// `privgate serve`, `privgate web-proxy` registered with a downloaded config and enforcing a real
// policy, Debian's Squid calling it over ICAP, c-icap's echo service as the baseline, and the
// loopback origin. Every process is started here and stopped by its PID (c-icap's children too).
// The wiring follows test/e2e/web-proxy.test.ts and docs/web-proxy-squid.md.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseToml } from 'smol-toml';
import { CLOCK_TICKS, cpuMs, ROOT } from './harness.mjs';

// PRIVGATE_BENCH_DIST: run another build of privgate (e.g. a patched copy, to measure a proposed
// fix before it lands); default the repository's dist/.
const CLI = path.join(process.env.PRIVGATE_BENCH_DIST ?? path.join(ROOT, 'dist'), 'cli', 'index.js');

/** A scratch directory the `proxy` and `c-icap` users can reach (they need o+x on the way down). */
export function scratchDirectory(prefix) {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(directory, 0o711);
  return directory;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitFor(probe, timeoutMs, what, output = () => '') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${output()}`);
    await sleep(100);
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PIDs whose parent is `pid` (from /proc). */
export function childPids(pid) {
  const children = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may hold spaces and parentheses: read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/**
 * Starts `command args` with its output collected. `stop()` sends SIGTERM to the process and to
 * the children it had at that moment (by PID), waits, and SIGKILLs whichever PID is still there.
 */
export function startProcess(command, args, { env = {}, cwd = ROOT, name = path.basename(command) } = {}) {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return {
    name,
    child,
    pid: child.pid,
    exited,
    output: () => output,
    async stop(graceMs = 5000) {
      const pids = [child.pid, ...childPids(child.pid)];
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      const deadline = Date.now() + graceMs;
      while (pids.some(alive) && Date.now() < deadline) await sleep(50);
      for (const pid of pids.filter(alive)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await Promise.race([exited, sleep(1000)]);
    },
  };
}

/** Starts a node script that prints `READY {json}`; resolves with the process and that JSON. */
export async function startNodeServer(file, args = [], env = {}) {
  const running = startProcess(process.execPath, [file, ...args], { env, name: path.basename(file) });
  await waitFor(async () => running.output().includes('READY '), 30_000, path.basename(file), running.output);
  const line = running.output().split('\n').find((candidate) => candidate.startsWith('READY '));
  return { ...running, info: JSON.parse(line.slice(6)) };
}

// ─── privgate serve and its API ────────────────────────────────────────────────────────────

/** `privgate serve` over HTTPS (self-made CA) on SQLite in `dataDir`. */
export async function startServe({ port, dataDir, env = {}, nodeArgs = [] }) {
  const serve = startProcess(process.execPath, [...nodeArgs, CLI, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'warn'], {
    env: { PRIVGATE_ADMIN_PASSWORD: 'bench admin password 1', ...env },
    name: 'privgate serve',
  });
  const caFile = path.join(dataDir, 'tls', 'ca.pem');
  let ca = '';
  await waitFor(
    async () => {
      if (!fs.existsSync(caFile)) return false;
      ca = fs.readFileSync(caFile, 'utf8');
      return ca !== '' && (await request({ port, ca, method: 'GET', path: '/auth/api/v1/status' })).status === 200;
    },
    30_000,
    'privgate serve',
    serve.output,
  );
  return { ...serve, port, ca, dataDir };
}

/** One HTTPS request with a keep-alive agent; resolves {status, headers, body}. */
export function request({ port, ca, method, path: urlPath, token, body, agent, headers = {} }) {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const outgoing = https.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        ca,
        agent: agent ?? false,
        headers: {
          ...(token ? { authorization: token.startsWith('Basic ') ? token : `Bearer ${token}` } : {}),
          ...(payload !== undefined ? { 'content-type': typeof body === 'string' ? 'application/x-www-form-urlencoded' : 'application/json' } : {}),
          ...headers,
        },
      },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    outgoing.setTimeout(30_000, () => outgoing.destroy(new Error(`${method} ${urlPath}: timeout`)));
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

/** An API client with the privx-admin role, made with the CLI as an operator would. */
export function createAdminClient(dataDir, name = `bench-admin-${Date.now()}`) {
  const out = execFileSync(process.execPath, [CLI, 'api-client', 'create', '--name', name, '--role', 'privx-admin', '--data-dir', dataDir], { encoding: 'utf8' });
  return JSON.parse(out);
}

/** The password grant exactly as the PrivX SDKs send it; resolves the token response. */
export async function passwordGrant(serve, credentials, agent) {
  const basic = `Basic ${Buffer.from(`${credentials.oauth_client_id}:${credentials.oauth_client_secret}`).toString('base64')}`;
  const answer = await request({
    port: serve.port,
    ca: serve.ca,
    agent,
    method: 'POST',
    path: '/auth/api/v1/oauth/token',
    token: basic,
    body: new URLSearchParams({ grant_type: 'password', username: credentials.id, password: credentials.secret }).toString(),
  });
  if (answer.status !== 200) throw new Error(`password grant: ${answer.status} ${answer.body}`);
  return JSON.parse(answer.body);
}

async function apiJson(serve, token, method, urlPath, body, expected = [200, 201]) {
  const answer = await request({ port: serve.port, ca: serve.ca, method, path: urlPath, token, body });
  if (!expected.includes(answer.status)) throw new Error(`${method} ${urlPath}: ${answer.status} ${answer.body}`);
  return answer.body === '' ? {} : JSON.parse(answer.body);
}

/**
 * A real web-access policy: a WEB host whose service is the origin (127.0.0.1:originPort) with
 * principal `alice`, an ICAP trusted client and its one-time config downloaded to
 * `directory/web-proxy-config.toml`, and a web session for alice on that host.
 */
export async function setUpWebAccess({ serve, adminToken, originPort, squidPort, directory }) {
  const host = await apiJson(serve, adminToken, 'POST', '/host-store/api/v1/hosts', {
    common_name: 'bench origin',
    addresses: ['127.0.0.1'],
    services: [{ service: 'WEB', address: '127.0.0.1', port: originPort }],
    principals: [{ principal: 'alice' }],
  });
  const trustedClient = await apiJson(serve, adminToken, 'POST', '/local-user-store/api/v1/trusted-clients', {
    type: 'ICAP',
    name: `bench web proxy ${Date.now()}`,
    enabled: true,
    web_proxy_address: '127.0.0.1',
    web_proxy_port: String(squidPort),
  });
  const confSession = await apiJson(serve, adminToken, 'POST', `/authorizer/api/v1/icap/conf/${trustedClient.id}`);
  const toml = await request({ port: serve.port, ca: serve.ca, method: 'GET', path: `/authorizer/api/v1/icap/conf/${trustedClient.id}/${confSession.session_id}`, token: adminToken });
  if (toml.status !== 200) throw new Error(`config download: ${toml.status} ${toml.body}`);
  fs.mkdirSync(directory, { recursive: true });
  const configFile = path.join(directory, 'web-proxy-config.toml');
  fs.writeFileSync(configFile, toml.body, { mode: 0o600 });
  const icap = parseToml(toml.body).icap;
  const session = await apiJson(serve, adminToken, 'POST', '/authorizer/api/v1/icap/sessions', { host_id: host.id, principal: 'alice' }, [201]);
  return { hostId: host.id, trustedClientId: trustedClient.id, configFile, reqmodService: icap.reqmod_service, respmodService: icap.respmod_service, sessionToken: session.token, sessionId: session.session_id };
}

/** `privgate web-proxy`; resolves once /healthz says a policy is enforced. */
export async function startWebProxy({ configFile, icapPort, metricsPort, stateDir, logLevel = 'warn', nodeArgs = [] }) {
  const proxy = startProcess(
    process.execPath,
    [...nodeArgs, CLI, 'web-proxy', '--config', configFile, '--icap-listen', `127.0.0.1:${icapPort}`, '--metrics-listen', `127.0.0.1:${metricsPort}`, '--state-dir', stateDir, '--log-level', logLevel],
    { name: 'privgate web-proxy' },
  );
  await waitFor(async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status === 200, 30_000, 'the web proxy to load its policy', proxy.output);
  return { ...proxy, icapPort, metricsPort };
}

// ─── Squid and c-icap ──────────────────────────────────────────────────────────────────────

/** Squid in the foreground (`squid -N`: one process), checked with `squid -k parse` first. */
export async function startSquid({ name, directory, httpPort, icap }) {
  for (const sub of ['run', 'logs']) fs.mkdirSync(path.join(directory, sub), { recursive: true });
  fs.chmodSync(directory, 0o755);
  fs.writeFileSync(path.join(directory, 'hosts'), '127.0.0.1 localhost\n', { mode: 0o644 });
  // Imported here, not at the top: scripts/soak.mjs loads this file before it has built dist/.
  const { squidConfig } = await import('../dist/webproxy/squid-config.js');
  // privgate's squid.conf (the one the e2e tests run); only `icap` differs between the instances
  // compared, and none writes an access log (disk I/O no side needs).
  const config = squidConfig({ directory, httpPort, icap, accessLog: false });
  const configFile = path.join(directory, 'squid.conf');
  fs.writeFileSync(configFile, config, { mode: 0o644 });
  spawnSync('chown', ['-R', 'proxy:proxy', path.join(directory, 'run'), path.join(directory, 'logs')]);
  const parse = spawnSync('squid', ['-k', 'parse', '-f', configFile, '-n', name], { encoding: 'utf8' });
  if (parse.status !== 0) throw new Error(`squid -k parse failed:\n${parse.stderr}${parse.stdout}`);
  const squid = startProcess('squid', ['-N', '-f', configFile, '-n', name], { name: `squid ${name}` });
  const cacheLog = () => {
    try {
      return fs.readFileSync(path.join(directory, 'logs', 'cache.log'), 'utf8');
    } catch {
      return squid.output();
    }
  };
  await waitFor(async () => {
    if (squid.child.exitCode !== null) throw new Error(`squid exited:\n${cacheLog()}`);
    return accepts(httpPort);
  }, 20_000, `squid on ${httpPort}`, cacheLog);
  return { ...squid, httpPort, config, cacheLog };
}

/**
 * c-icap 0.5 with only the echo service, in the foreground (-N), as user c-icap. Threads for
 * ≳ 2 × the client concurrency (REQMOD + RESPMOD each hold a persistent connection).
 */
export async function startCicap({ directory, port, threads = 120 }) {
  fs.mkdirSync(path.join(directory, 'tmp'), { recursive: true });
  const perChild = 20;
  const config = [
    `PidFile ${directory}/c-icap.pid`,
    `CommandsSocket ${directory}/c-icap.ctl`,
    'Timeout 300',
    'MaxKeepAliveRequests 0',
    'KeepAliveTimeout 600',
    `StartServers ${Math.ceil(threads / perChild)}`,
    'MaxServers 20',
    `MinSpareThreads ${perChild}`,
    `MaxSpareThreads ${threads}`,
    `ThreadsPerChild ${perChild}`,
    'MaxRequestsPerChild 0',
    `Port 127.0.0.1:${port}`,
    'User c-icap',
    'Group c-icap',
    `TmpDir ${directory}/tmp`,
    'MaxMemObject 131072',
    'DebugLevel 0',
    'Pipelining on',
    'ModulesDir /usr/lib/x86_64-linux-gnu/c_icap',
    'ServicesDir /usr/lib/x86_64-linux-gnu/c_icap',
    'TemplateDir /usr/share/c_icap/templates/',
    'LoadMagicFile /etc/c-icap/c-icap.magic',
    `ServerLog ${directory}/server.log`,
    `AccessLog ${directory}/access.log`,
    'Service echo srv_echo.so',
    '',
  ].join('\n');
  const configFile = path.join(directory, 'c-icap.conf');
  fs.writeFileSync(configFile, config, { mode: 0o644 });
  fs.chmodSync(directory, 0o755);
  spawnSync('chown', ['-R', 'c-icap:c-icap', directory]);
  const cicap = startProcess('c-icap', ['-f', configFile, '-N'], { name: 'c-icap' });
  await waitFor(async () => {
    if (cicap.child.exitCode !== null) throw new Error(`c-icap exited:\n${cicap.output()}`);
    return accepts(port);
  }, 20_000, `c-icap on ${port}`, () => `${cicap.output()}\n${fs.existsSync(`${directory}/server.log`) ? fs.readFileSync(`${directory}/server.log`, 'utf8') : ''}`);
  return { ...cicap, port };
}

/** CPU time of the whole machine so far (all CPUs), in ms: busy and total. */
export function machineCpuMs() {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = fields[3] + fields[4];
  return { busy: ((total - idle) * 1000) / CLOCK_TICKS, total: (total * 1000) / CLOCK_TICKS };
}

/** Bytes a process has read and written through read/write-family calls (sockets included), /proc/PID/io. */
export function ioBytes(pid) {
  const text = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  const value = (name) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { read: value('rchar'), written: value('wchar') };
}

/** CPU ms of a process and all its current children (c-icap's workers). */
export function treeCpuMs(pid) {
  return cpuMs(pid) + childPids(pid).reduce((sum, child) => {
    try {
      return sum + cpuMs(child);
    } catch {
      return sum;
    }
  }, 0);
}

/** Stops everything given (in reverse order), tolerating failures. */
export async function stopAll(processes) {
  for (const running of [...processes].reverse()) {
    if (!running) continue;
    try {
      await running.stop();
    } catch (error) {
      process.stderr.write(`stopping ${running.name}: ${error.message}\n`);
    }
  }
}
