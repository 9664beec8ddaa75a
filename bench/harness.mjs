// Shared pieces of the benchmarks: child-process servers, autocannon runs, the results table.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import autocannon from 'autocannon';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** A free loopback port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts `node file args` and resolves once it prints `ready` (or a JSON line with ready:true). */
export function startServer(file, args = [], env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${path.basename(file)} did not start:\n${output}`)), 30_000);
    const onData = (chunk) => {
      output += chunk.toString();
      const line = output.split('\n').find((candidate) => candidate.startsWith('READY '));
      if (line) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve({ child, info: JSON.parse(line.slice(6)), stop: () => stop(child) });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => (output += chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(file)} exited with ${code}:\n${output}`));
    });
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

/** Kernel clock ticks per second (the unit of /proc CPU times). */
export const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time (user + system) of a process so far, in ms, from /proc/PID/stat. */
export function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat (11 and 12 after "state").
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** RSS of a process in MB, from /proc. */
export function rssMb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : NaN;
}

/**
 * One autocannon run; returns requests/s and latency percentiles (ms). With `serverPid`, also the
 * server's CPU time (user + system) per request in µs.
 */
export async function load({ serverPid, ...options }) {
  const cpuBefore = serverPid === undefined ? 0 : cpuMs(serverPid);
  const result = await autocannon({
    connections: 20,
    duration: 8,
    ...options,
  });
  const non2xx = result.non2xx + result.errors + result.timeouts;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    failures: non2xx,
    ...(serverPid === undefined ? {} : { cpuUsPerRequest: ((cpuMs(serverPid) - cpuBefore) * 1000) / Math.max(result.requests.total, 1) }),
  };
}

/** Warms a target up briefly, then measures it. */
export async function measure({ serverPid, ...options }) {
  await autocannon({ connections: 10, duration: 2, ...options });
  return load({ serverPid, ...options });
}

export const rows = [];

/** Records one comparison: `budget` is a function of (ours, baseline) → {pass, text}. */
export function record(name, baselineName, baseline, ours, budget) {
  const ratio = ours.rps / baseline.rps;
  const verdict = budget(ours, baseline, ratio);
  rows.push({ benchmark: name, baseline: baselineName, baseline_rps: Math.round(baseline.rps), ours_rps: Math.round(ours.rps), ratio: Number(ratio.toFixed(2)), baseline_p99_ms: baseline.p99, ours_p99_ms: ours.p99, ours_failures: ours.failures, budget: verdict.text, pass: verdict.pass });
}

/** A non-ratio measurement (scale, memory): value against a budget. */
export function recordValue(name, value, unit, budgetText, pass, extra = {}) {
  rows.push({ benchmark: name, baseline: '-', value: `${value} ${unit}`, budget: budgetText, pass, ...extra });
}

export function printTable() {
  const header = ['benchmark', 'baseline', 'baseline', 'ours', 'ratio', 'budget', 'result'];
  const lines = rows.map((row) =>
    row.value !== undefined
      ? [row.benchmark, row.baseline, '', row.value, '', row.budget, row.pass ? 'pass' : 'FAIL']
      : [row.benchmark, row.baseline, `${row.baseline_rps}/s p99 ${row.baseline_p99_ms}ms`, `${row.ours_rps}/s p99 ${row.ours_p99_ms}ms${row.ours_failures ? ` (${row.ours_failures} failed)` : ''}`, `${row.ratio}×`, row.budget, row.pass ? 'pass' : 'FAIL'],
  );
  const widths = header.map((_, index) => Math.max(header[index].length, ...lines.map((line) => String(line[index]).length)));
  const format = (line) => `| ${line.map((cell, index) => String(cell).padEnd(widths[index])).join(' | ')} |`;
  const out = [format(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...lines.map(format)].join('\n');
  process.stdout.write(`\n${out}\n`);
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ when: new Date().toISOString(), node: process.version, cores: cpuCount(), rows }, null, 2));
  process.stdout.write(`results: ${path.relative(ROOT, file)}\n`);
}

function cpuCount() {
  return fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((line) => line.startsWith('processor')).length;
}
