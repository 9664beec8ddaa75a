// Comparing two targets on a shared machine: short alternating rounds (ABBA…) instead of one long
// run each, so a change in background load hits both sides alike; plus the CPU each side's
// processes spent per request, which background load disturbs far less than requests/s.
import { cpuMs, load } from './harness.mjs';
import { childPids, machineCpuMs, treeCpuMs } from './lib-webproxy.mjs';

function combine(results, seconds) {
  const requests = results.reduce((sum, result) => sum + result.requests, 0);
  return {
    rps: requests / seconds,
    p50: Math.max(...results.map((result) => result.p50)),
    p99: Math.max(...results.map((result) => result.p99)),
    requests,
    failures: results.reduce((sum, result) => sum + result.failures, 0),
  };
}

/** CPU ms of this process and every process below it (everything the benchmark started). */
function ownCpuMs() {
  let total = 0;
  const pending = [process.pid];
  while (pending.length > 0) {
    const pid = pending.pop();
    try {
      total += cpuMs(pid);
    } catch {
      continue;
    }
    pending.push(...childPids(pid));
  }
  return total;
}

/**
 * Measures `sides` (each {name, options: autocannon options, pids: {label: pid}, counters?:
 * {label: () => number}}) in `rounds`
 * rounds of `seconds` each, in the order A B B A A B … after a warm-up of each. Returns per side
 * the combined result (rps over all rounds, worst p50/p99 of the rounds, failures summed) and the
 * CPU µs per request of each of its processes (their children included), and each counter's
 * increase per request (`perRequest`). `foreignShare` is the
 * share of the machine's CPU time, during the measured rounds, used by processes that are neither
 * this one nor below it: background load that skews the comparison.
 */
export async function interleaved(sides, { rounds = 4, seconds = 2, warmupSeconds = 2 } = {}) {
  for (const side of sides) await load({ ...side.options, duration: warmupSeconds });
  const oursBefore = ownCpuMs();
  const machineBefore = machineCpuMs();
  const perSide = sides.map(() => ({ results: [], cpu: {}, counters: {} }));
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? sides.map((_, index) => index) : sides.map((_, index) => sides.length - 1 - index);
    for (const index of order) {
      const side = sides[index];
      const before = Object.fromEntries(Object.entries(side.pids).map(([label, pid]) => [label, treeCpuMs(pid)]));
      const countersBefore = Object.fromEntries(Object.entries(side.counters ?? {}).map(([label, read]) => [label, read()]));
      const result = await load({ ...side.options, duration: seconds });
      for (const [label, pid] of Object.entries(side.pids)) perSide[index].cpu[label] = (perSide[index].cpu[label] ?? 0) + (treeCpuMs(pid) - before[label]);
      for (const [label, read] of Object.entries(side.counters ?? {})) perSide[index].counters[label] = (perSide[index].counters[label] ?? 0) + (read() - countersBefore[label]);
      perSide[index].results.push(result);
    }
  }
  const machineAfter = machineCpuMs();
  const oursSpent = ownCpuMs() - oursBefore;
  const foreignShare = Math.max(0, (machineAfter.busy - machineBefore.busy - oursSpent) / (machineAfter.total - machineBefore.total));
  return perSide.map(({ results, cpu, counters }, index) => {
    const combined = combine(results, rounds * seconds);
    const cpuPerRequest = Object.fromEntries(Object.entries(cpu).map(([label, total]) => [label, combined.requests > 0 ? (total * 1000) / combined.requests : NaN]));
    return { name: sides[index].name, ...combined, rounds: results.map((result) => Math.round(result.rps)), cpuUsPerRequest: cpuPerRequest, perRequest: Object.fromEntries(Object.entries(counters).map(([label, total]) => [label, total / combined.requests])), foreignShare };
  });
}
