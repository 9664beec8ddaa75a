#!/usr/bin/env node
// The SDK compatibility suite (`npm run test:compat`): the published PrivX clients against a
// throwaway `privgate serve`.
//
// - PRIVX_SDK_GO_DIR: the PrivX Go SDK's sources. The harness in test/compat/go/ is built against
//   a copy of them (go line patched to Debian's Go 1.19, offline: GOPROXY=off) and cached under
//   $PRIVGATE_COMPAT_CACHE (default: $TMPDIR/privgate-compat-cache), keyed by the SDK's and the
//   harness's contents and the Go version. Go comes from Debian (installed with apt-get when
//   missing and we are root; see scripts/ensure-system-packages.mjs).
// - PRIVX_SDK_PYTHON_DIR: the PrivX Python SDK; test/compat/python/harness.py imports it.
// A variable that is unset, or names no directory, skips that SDK's suite, saying so.
//
// Every scenario runs as its own harness process (the Go SDK's Download ends the process on a
// non-200 answer). The harness talks to a recording HTTPS proxy in front of privgate (it serves
// privgate's own certificate, so the SDK verifies it with privgate's CA as usual); before each
// step the harness posts the step's name to the proxy, which attributes the calls that follow to
// it. A step fails on an SDK error, a decode error, or drift (a field written that reads back
// different or missing); a scenario fails when one of its steps does.
//
// test/compat/expected-failures.json ({"<sdk> <scenario>": "reason"}) lists the scenarios known
// to fail until their part of the API lands: they are reported as pending and do not fail the
// run; one that passes fails the run until it is removed from the file, and so does a key that
// names no scenario.
//
// Exit status: 0 when every scenario that ran passed or is pending, 1 otherwise.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { genericTemplate, goEndpoints, matchEndpoint, pythonEndpoints, pythonPackage } from './compat-endpoints.mjs';
import { freePort, ROOT, startServer } from './compat-server.mjs';

const started = Date.now();
const say = (line = '') => process.stdout.write(`${line}\n`);
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const EXPECTED_FILE = path.join(ROOT, 'test', 'compat', 'expected-failures.json');
const GO_HARNESS_DIR = path.join(ROOT, 'test', 'compat', 'go');
const PYTHON_HARNESS = path.join(ROOT, 'test', 'compat', 'python', 'harness.py');
const SCENARIO_TIMEOUT_MS = 90_000;

function sdkDir(variable, label) {
  const value = process.env[variable];
  if (!value) {
    say(`skipping the ${label} SDK suite: ${variable} is not set`);
    return undefined;
  }
  if (!fs.existsSync(value) || !fs.statSync(value).isDirectory()) {
    say(`skipping the ${label} SDK suite: ${variable}=${value} is not a directory`);
    return undefined;
  }
  return path.resolve(value);
}

// ---- the Go harness, built once per SDK + harness + Go version ----

function filesUnder(dir) {
  const out = [];
  const walk = (current) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name === '.git') continue;
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) out.push(full);
    }
  };
  walk(dir);
  return out;
}

function buildGoHarness(goDir) {
  const packages = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'ensure-system-packages.mjs'), 'golang-go', 'golang-github-burntsushi-toml-dev'], { stdio: 'inherit' });
  if (packages.status !== 0) throw new Error('Go is needed for the Go SDK suite (Debian: golang-go golang-github-burntsushi-toml-dev) and could not be installed');
  const goVersion = spawnSync('go', ['version'], { encoding: 'utf8' }).stdout.trim();
  const hash = crypto.createHash('sha256').update(goVersion).update('\0').update(goDir).update('\0');
  for (const dir of [goDir, GO_HARNESS_DIR]) {
    for (const file of filesUnder(dir)) hash.update(path.relative(dir, file)).update('\0').update(fs.readFileSync(file)).update('\0');
  }
  const key = hash.digest('hex').slice(0, 20);
  const cacheRoot = process.env.PRIVGATE_COMPAT_CACHE || path.join(os.tmpdir(), 'privgate-compat-cache');
  fs.mkdirSync(cacheRoot, { recursive: true });
  const binary = path.join(cacheRoot, `go-harness-${key}`);
  if (fs.existsSync(binary)) return { binary, cached: true, goVersion };

  const work = fs.mkdtempSync(path.join(cacheRoot, 'build-'));
  try {
    // A copy of the SDK whose go line Debian's Go accepts (nothing in the code needs a newer one).
    const sdkCopy = path.join(work, 'sdk');
    fs.cpSync(goDir, sdkCopy, { recursive: true, filter: (source) => path.basename(source) !== '.git' });
    const goMod = path.join(sdkCopy, 'go.mod');
    fs.writeFileSync(goMod, fs.readFileSync(goMod, 'utf8').replace(/^go 1\.[0-9.]+$/m, 'go 1.19').replace(/^toolchain .*$/m, ''));
    const harness = path.join(work, 'harness');
    fs.mkdirSync(harness);
    for (const file of fs.readdirSync(GO_HARNESS_DIR).filter((name) => name.endsWith('.go'))) fs.copyFileSync(path.join(GO_HARNESS_DIR, file), path.join(harness, file));
    fs.writeFileSync(
      path.join(harness, 'go.mod'),
      [
        'module privgate-compat-harness',
        'go 1.19',
        'require github.com/SSHcom/privx-sdk-go/v2 v2.42.0',
        'require github.com/BurntSushi/toml v1.2.0 // indirect',
        `replace github.com/SSHcom/privx-sdk-go/v2 => ${sdkCopy}`,
        'replace github.com/BurntSushi/toml => /usr/share/gocode/src/github.com/BurntSushi/toml',
        '',
      ].join('\n'),
    );
    const env = {
      ...process.env,
      GOPROXY: 'off',
      GOFLAGS: '-mod=mod',
      GOTOOLCHAIN: 'local',
      GOSUMDB: 'off',
      GO111MODULE: 'on',
      CGO_ENABLED: '0',
      GOCACHE: path.join(cacheRoot, 'gocache'),
      GOPATH: path.join(cacheRoot, 'gopath'),
    };
    const output = path.join(work, 'harness-bin');
    const result = spawnSync('go', ['build', '-o', output, '.'], { cwd: harness, env, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`building the Go harness failed:\n${result.stdout}${result.stderr}`);
    fs.renameSync(output, binary);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { binary, cached: false, goVersion };
}

// ---- the recording proxy ----

async function startRecorder(server) {
  const tls = { key: fs.readFileSync(path.join(server.tlsDir, 'server-key.pem')), cert: fs.readFileSync(path.join(server.tlsDir, 'server.pem')) };
  const agent = new https.Agent({ keepAlive: true, ca: server.ca });
  const calls = [];
  let current = { sdk: '', scenario: '', step: '(before the first step)' };
  const proxy = https.createServer(tls, (request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      if (request.method === 'POST' && request.url === '/__compat/step') {
        try {
          const marker = JSON.parse(body.toString('utf8'));
          current = { sdk: String(marker.sdk), scenario: String(marker.scenario), step: String(marker.step) };
        } catch {
          // a malformed marker leaves the attribution as it was
        }
        response.writeHead(204).end();
        return;
      }
      const headers = { ...request.headers, host: `127.0.0.1:${server.port}` };
      delete headers.connection;
      const call = { ...current, method: request.method, url: request.url, path: request.url.split('?')[0], status: 0 };
      calls.push(call);
      const upstream = https.request({ host: '127.0.0.1', port: server.port, method: request.method, path: request.url, headers, agent }, (answer) => {
        call.status = answer.statusCode;
        const answerHeaders = { ...answer.headers };
        delete answerHeaders.connection;
        response.writeHead(answer.statusCode, answerHeaders);
        answer.pipe(response);
      });
      upstream.on('error', (error) => {
        call.status = 502;
        call.error = error.message;
        if (!response.headersSent) response.writeHead(502, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error_code: 'COMPAT_PROXY_ERROR', error_message: error.message }));
      });
      upstream.end(body);
    });
  });
  const port = await freePort();
  await new Promise((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${port}`,
    calls,
    begin(sdk, scenario) {
      current = { sdk, scenario, step: '(before the first step)' };
    },
    current: () => current,
    close: () =>
      new Promise((resolve) => {
        agent.destroy();
        proxy.closeAllConnections?.();
        proxy.close(() => resolve());
      }),
  };
}

// ---- running scenarios ----

function runProcess(command, args, env) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${SCENARIO_TIMEOUT_MS / 1000} s)`;
      child.kill('SIGKILL');
    }, SCENARIO_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

function listScenarios(command, args) {
  const result = spawnSync(command, [...args, 'list'], { encoding: 'utf8', env: process.env });
  if (result.status !== 0) throw new Error(`${[command, ...args].join(' ')} list failed: ${result.stderr}`);
  return result.stdout.split('\n').filter(Boolean);
}

async function runScenario(sdk, name, command, args, recorder, env) {
  recorder.begin(sdk, name);
  const result = await runProcess(command, [...args, name], env);
  const steps = [];
  for (const line of result.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      steps.push(JSON.parse(line));
    } catch {
      // not a step line
    }
  }
  const stderr = result.stderr.trim().split('\n').slice(-3).join(' | ');
  const lastMarked = recorder.current();
  if (result.code !== 0 && !steps.some((step) => !step.ok)) {
    // The harness ended without reporting a failed step: a crash (e.g. the Go SDK's Download
    // calling log.Fatal) in the step it last marked.
    const stepName = lastMarked.sdk === sdk && lastMarked.scenario === name ? lastMarked.step : '(harness)';
    steps.push({ sdk, scenario: name, step: stepName, call: '', ok: false, error: `the harness exited with status ${result.code} during this step: ${stderr || '(no output)'}` });
  } else if (result.code !== 0 && lastMarked.scenario === name && !steps.some((step) => step.step === lastMarked.step)) {
    steps.push({ sdk, scenario: name, step: lastMarked.step, call: '', ok: false, error: `the harness exited with status ${result.code} during this step: ${stderr || '(no output)'}` });
  }
  for (const step of steps) step.calls = recorder.calls.filter((call) => call.sdk === sdk && call.scenario === name && call.step === step.step);
  return { sdk, name, key: `${sdk} ${name}`, steps, ok: result.code === 0 && steps.length > 0 && steps.every((step) => step.ok), stderr };
}

// ---- reporting ----

function endpointOf(sdk, call, templates) {
  const match = matchEndpoint(templates, call.method, call.path);
  const template = match ? match.template : genericTemplate(call.path);
  const pkg = sdk === 'go' ? (match?.pkg ?? '(no SDK template)') : pythonPackage(call.path);
  return { pkg, id: `${call.method} ${template}`, fn: match?.fn };
}

/**
 * Which endpoints passed: a call is bad when it answered ≥ 400 in a step that failed, or when it
 * is the last call of a step that failed without any ≥ 400 answer (the drift or decode error is
 * blamed on the response read last). An endpoint passed when none of its calls is bad.
 */
function endpointSummary(sdk, results, templates) {
  const endpoints = new Map();
  for (const scenario of results) {
    for (const step of scenario.steps) {
      const statusFailure = step.calls.some((call) => call.status >= 400 || call.status === 0);
      step.calls.forEach((call, index) => {
        const { pkg, id, fn } = endpointOf(sdk, call, templates);
        const key = `${pkg}\0${id}`;
        const entry = endpoints.get(key) ?? { pkg, id, fn, calls: 0, bad: [] };
        entry.calls += 1;
        const bad = !step.ok && (statusFailure ? call.status >= 400 || call.status === 0 : index === step.calls.length - 1);
        if (bad) entry.bad.push(call.status >= 400 || call.status === 0 ? `${call.status} in ${scenario.name} / ${step.step}` : `${step.drift ? 'drift' : 'error'} in ${scenario.name} / ${step.step}`);
        endpoints.set(key, entry);
      });
    }
  }
  const byPackage = new Map();
  for (const entry of endpoints.values()) {
    const list = byPackage.get(entry.pkg) ?? [];
    list.push(entry);
    byPackage.set(entry.pkg, list);
  }
  return [...byPackage].sort((a, b) => a[0].localeCompare(b[0]));
}

function describeStepFailure(step) {
  const parts = [];
  const failing = step.calls.filter((call) => call.status >= 400 || call.status === 0);
  for (const call of failing) parts.push(`${call.method} ${call.url} → ${call.status || call.error || 'no answer'}`);
  if (step.error) parts.push(step.error.length > 300 ? `${step.error.slice(0, 300)}…` : step.error);
  for (const drift of step.drift ?? []) parts.push(`drift ${drift.field}: wrote ${JSON.stringify(drift.wrote)}, read ${JSON.stringify(drift.read)}`);
  if (failing.length === 0 && step.calls.length > 0 && (step.drift || step.error)) {
    const last = step.calls[step.calls.length - 1];
    parts.unshift(`${last.method} ${last.url} → ${last.status}`);
  }
  return `${step.step}${step.call ? ` (${step.call})` : ''}: ${parts.join('; ')}`;
}

// ---- main ----

const goDir = sdkDir('PRIVX_SDK_GO_DIR', 'Go');
const pythonDir = sdkDir('PRIVX_SDK_PYTHON_DIR', 'Python');
if (!goDir && !pythonDir) {
  say('SDK compatibility suite: nothing to run (both SDK suites skipped)');
  process.exit(0);
}
const expected = fs.existsSync(EXPECTED_FILE) ? JSON.parse(fs.readFileSync(EXPECTED_FILE, 'utf8')) : {};
let failed = false;

const suites = [];
if (goDir) {
  const buildStart = Date.now();
  try {
    const built = buildGoHarness(goDir);
    say(`Go harness: ${built.cached ? 'cached build' : 'built'} (${built.goVersion}) in ${seconds(Date.now() - buildStart)}: ${built.binary}`);
    suites.push({ sdk: 'go', command: built.binary, args: [], templates: goEndpoints(goDir) });
  } catch (error) {
    say(`FAIL the Go SDK suite: ${error.message}`);
    failed = true;
  }
}
if (pythonDir) {
  const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
  if (python.status !== 0) {
    say('FAIL the Python SDK suite: python3 is not on PATH');
    failed = true;
  } else {
    suites.push({ sdk: 'python', command: 'python3', args: [PYTHON_HARNESS], templates: pythonEndpoints(pythonDir) });
  }
}

const server = await startServer();
const recorder = await startRecorder(server);
say(`privgate serve on ${server.url} (data ${server.dataDir}), recording proxy on ${recorder.url}`);
// PYTHONDONTWRITEBYTECODE: leave no __pycache__ in the SDK's directory (or ours).
const env = {
  COMPAT_BASE_URL: recorder.url,
  COMPAT_CA_FILE: server.caFile,
  COMPAT_API_CLIENT_FILE: server.clientFile,
  PYTHONDONTWRITEBYTECODE: '1',
  ...(pythonDir ? { PRIVX_SDK_PYTHON_DIR: pythonDir } : {}),
};
const counts = { passed: 0, failed: 0, pending: 0, nowPasses: 0 };
const known = new Set();
try {
  for (const suite of suites) {
    say();
    say(`== ${suite.sdk} SDK scenarios`);
    const results = [];
    for (const name of listScenarios(suite.command, suite.args)) {
      const result = await runScenario(suite.sdk, name, suite.command, suite.args, recorder, env);
      results.push(result);
      known.add(result.key);
      const passedSteps = result.steps.filter((step) => step.ok).length;
      const stepsText = `${passedSteps}/${result.steps.length} steps`;
      const reason = expected[result.key];
      if (result.ok && reason === undefined) {
        counts.passed += 1;
        say(`PASS     ${result.key}  (${stepsText})`);
      } else if (result.ok) {
        counts.nowPasses += 1;
        failed = true;
        say(`FAIL     ${result.key}  (${stepsText}) now passes: remove it from expected-failures.json (it said: ${reason})`);
      } else {
        if (reason === undefined) {
          counts.failed += 1;
          failed = true;
          say(`FAIL     ${result.key}  (${stepsText} passed)`);
        } else {
          counts.pending += 1;
          say(`pending  ${result.key}  (${stepsText} passed) (expected failure: ${reason})`);
        }
        for (const step of result.steps.filter((item) => !item.ok)) say(`           ✗ ${describeStepFailure(step)}`);
      }
    }
    say();
    say(`== ${suite.sdk} SDK endpoints (per SDK package; ✗ names the first failing call)`);
    for (const [pkg, list] of endpointSummary(suite.sdk, results, suite.templates)) {
      const passed = list.filter((entry) => entry.bad.length === 0);
      say(`${suite.sdk} ${pkg}: ${list.length} endpoint${list.length === 1 ? '' : 's'} exercised, ${passed.length} passed`);
      for (const entry of list.sort((a, b) => a.id.localeCompare(b.id))) {
        say(`    ${entry.bad.length === 0 ? '✓' : '✗'} ${entry.id}${entry.fn ? ` (${entry.fn})` : ''}${entry.bad.length ? `: ${entry.bad[0]}${entry.bad.length > 1 ? ` (+${entry.bad.length - 1} more)` : ''}` : ''}`);
      }
    }
  }
} finally {
  await recorder.close();
  await server.stop();
}

// Keys that name no scenario of a suite that ran would let the file rot.
const ran = new Set(suites.map((suite) => suite.sdk));
const stale = Object.keys(expected).filter((key) => ran.has(key.split(' ')[0]) && !known.has(key));
say();
for (const key of stale) {
  say(`FAIL     expected-failures.json names "${key}", which is no scenario: remove it`);
  failed = true;
}
say(
  `SDK compatibility suite: ${counts.passed} passed, ${counts.failed} failed, ${counts.pending} pending (expected failures), ${counts.nowPasses} now pass` +
    ` — ${seconds(Date.now() - started)} in all; ${failed ? 'FAILED' : 'ok'}`,
);
process.exit(failed ? 1 : 0);
