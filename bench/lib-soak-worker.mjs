// A load worker of scripts/soak.mjs, run with child_process.fork (its own event loop, so the two
// loads and the sampling do not disturb each other's timing). It receives {type:'start', …} over
// IPC, runs a fixed-rate load (each of `concurrency` loops sends one request per `1/rate ×
// concurrency` seconds, skipping ahead when late) and reports a window every WINDOW_MS:
// {type:'window', kind, from, at, latencies:[ms…], errors, errorSamples:[…]}. {type:'token', …} swaps
// the credentials it uses; {type:'stop'} ends it after a last window.
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

const WINDOW_MS = 10_000;

let stopping = false;
let latencies = [];
let errors = 0;
let errorSamples = [];
let state;
let windowStart = Date.now();

function report(kind) {
  const now = Date.now();
  process.send({ type: 'window', kind, from: windowStart, at: now, latencies, errors, errorSamples });
  windowStart = now;
  latencies = [];
  errors = 0;
  errorSamples = [];
}

function fail(what) {
  errors += 1;
  if (errorSamples.length < 5) errorSamples.push(String(what).slice(0, 300));
}

/** One request; resolves {status, body} (body only when `keepBody`), rejects on network errors. */
function send(module, options, payload, keepBody) {
  return new Promise((resolve, reject) => {
    const outgoing = module.request(options, (response) => {
      const chunks = [];
      response.on('data', (chunk) => {
        if (keepBody) chunks.push(chunk);
      });
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: keepBody ? Buffer.concat(chunks).toString('utf8') : '' }));
      response.on('error', reject);
    });
    outgoing.setTimeout(30_000, () => outgoing.destroy(new Error('timeout after 30 s')));
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

/** Runs `once()` from `concurrency` loops at `rate` requests/s in all until stopped. */
async function fixedRate(rate, concurrency, once) {
  const period = (1000 * concurrency) / rate;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, index) => {
      await sleep((period * index) / concurrency);
      let next = performance.now();
      while (!stopping) {
        const started = performance.now();
        try {
          await once();
          latencies.push(performance.now() - started);
        } catch (error) {
          fail(error.message);
        }
        next += period;
        const now = performance.now();
        if (next < now) next = now; // late: do not burst to catch up
        await sleep(next - now);
      }
    }),
  );
}

// ─── the API mix ───────────────────────────────────────────────────────────────────────────

async function apiLoad(config) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: config.concurrency + 2, ca: config.ca });
  const base = { host: '127.0.0.1', port: config.port, agent };
  let token = config.token;
  const basic = `Basic ${Buffer.from(`${config.credentials.oauth_client_id}:${config.credentials.oauth_client_secret}`).toString('base64')}`;
  const grantBody = new URLSearchParams({ grant_type: 'password', username: config.credentials.id, password: config.credentials.secret }).toString();
  const expect = async (promise, status, what) => {
    const answer = await promise;
    if (answer.status !== status) throw new Error(`${what}: ${answer.status} ${answer.body.slice(0, 200)}`);
    return answer;
  };
  // Weighted mix: token grants, the default options read, the host list and the host search.
  const mix = [
    ['grant', 1],
    ['options', 4],
    ['list', 2],
    ['search', 2],
  ].flatMap(([name, weight]) => Array(weight).fill(name));
  let turn = 0;
  const once = async () => {
    const kind = mix[turn++ % mix.length];
    if (kind === 'grant') {
      const answer = await expect(
        send(https, { ...base, method: 'POST', path: '/auth/api/v1/oauth/token', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' } }, grantBody, true),
        200,
        'token grant',
      );
      token = JSON.parse(answer.body).access_token;
    } else if (kind === 'options') {
      await expect(send(https, { ...base, method: 'GET', path: '/host-store/api/v1/settings/default_service_options', headers: { authorization: `Bearer ${token}` } }, undefined, true), 200, 'default_service_options');
    } else if (kind === 'list') {
      const offset = (turn * 50) % Math.max(50, config.hosts - 50);
      await expect(send(https, { ...base, method: 'GET', path: `/host-store/api/v1/hosts?offset=${offset}&limit=50`, headers: { authorization: `Bearer ${token}` } }, undefined, true), 200, 'hosts list');
    } else {
      const body = JSON.stringify(turn % 2 === 0 ? { keywords: config.keyword } : { service: 'WEB', tags: [config.tag] });
      await expect(send(https, { ...base, method: 'POST', path: '/host-store/api/v1/hosts/search?limit=50', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, body, true), 200, 'hosts search');
    }
  };

  // A settings write every few seconds (not part of the latency figures; failures count).
  const settingsLoop = (async () => {
    let flip = 0;
    while (!stopping) {
      await sleep(config.settingsEveryMs);
      if (stopping) break;
      try {
        const current = await expect(send(https, { ...base, method: 'GET', path: config.settingsPath, headers: { authorization: `Bearer ${token}` } }, undefined, true), 200, 'settings GET');
        const value = JSON.parse(current.body);
        flip += 1;
        value.db = { ...value.db, max_bytes_download: flip % 2 === 0 ? 0 : 1_048_576 };
        await expect(send(https, { ...base, method: 'PUT', path: config.settingsPath, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, JSON.stringify(value), true), 200, 'settings PUT');
        process.send({ type: 'settings-write' });
      } catch (error) {
        fail(error.message);
      }
    }
  })();
  await Promise.all([fixedRate(config.rate, config.concurrency, once), settingsLoop]);
}

// ─── ICAP through Squid ────────────────────────────────────────────────────────────────────

async function icapLoad(config) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: config.concurrency + 2 });
  let turn = 0;
  const once = async () => {
    turn += 1;
    const large = config.largeEvery > 0 && turn % config.largeEvery === 0;
    const target = `http://127.0.0.1:${config.originPort}${large ? '/1m' : '/1k'}`;
    const answer = await send(http, { host: '127.0.0.1', port: config.squidPort, method: 'GET', path: target, agent, headers: { host: `127.0.0.1:${config.originPort}`, 'x-privgate-session': state.sessionToken } }, undefined, false);
    if (answer.status !== 200) throw new Error(`GET ${target} via Squid: ${answer.status} ${answer.headers['x-privgate-block'] ?? ''}`);
  };
  await fixedRate(config.rate, config.concurrency, once);
}

process.on('message', (message) => {
  if (message.type === 'start') {
    state = { ...message.config };
    windowStart = Date.now();
    const timer = setInterval(() => report(state.kind), WINDOW_MS);
    const work = state.kind === 'api' ? apiLoad(state) : icapLoad(state);
    work
      .catch((error) => fail(`worker: ${error.message}`))
      .finally(() => {
        clearInterval(timer);
        report(state.kind);
        process.send({ type: 'done' }, () => process.exit(0));
      });
  } else if (message.type === 'token') {
    state.sessionToken = message.sessionToken;
  } else if (message.type === 'stop') {
    stopping = true;
  }
});
