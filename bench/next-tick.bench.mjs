// process.nextTick after an idle spell: Node's HTTP, TLS and stream code calls it several times per
// request. In a plain Node 20 process it gets ~5× slower for good once full collections have run
// while no tick object was alive (see src/lib/tick-shape.ts); privgate holds one tick object to
// prevent that. Plain Node and the same script with privgate's hold, side by side in one run.
import { execFileSync } from 'node:child_process';
import { recordValue, ROOT } from './harness.mjs';

function measure(hold) {
  const output = execFileSync(process.execPath, ['--expose-gc', `${ROOT}/bench/lib-next-tick-worker.mjs`], { env: { ...process.env, HOLD: hold ? '1' : '0' }, encoding: 'utf8' });
  return JSON.parse(output.trim().split('\n').pop());
}

export async function run() {
  const plain = measure(false);
  const held = measure(true);
  const slowdown = (result) => result.after / result.before;
  recordValue(
    'process.nextTick after idle full collections: privgate (tick object held) vs plain Node',
    `${held.after.toFixed(0)} vs ${plain.after.toFixed(0)} (before: ${held.before.toFixed(0)} vs ${plain.before.toFixed(0)})`,
    'ns per call',
    '≤ 1.5× its own figure before',
    slowdown(held) <= 1.5,
    { ours_before_ns: held.before, ours_after_ns: held.after, baseline_before_ns: plain.before, baseline_after_ns: plain.after },
  );
}
