// Child of next-tick.bench.mjs (run with --expose-gc): ns per process.nextTick call while busy,
// before and after full collections that run while no tick object is alive (an idle server).
// HOLD=1 first does what privgate's serve and web-proxy do at start (holdTickObjectShape).
import { holdTickObjectShape } from '../dist/lib/tick-shape.js';

if (process.env.HOLD === '1') holdTickObjectShape();
const noop = () => {};
const batch = () =>
  new Promise((resolve) => {
    for (let index = 0; index < 1000; index += 1) process.nextTick(noop);
    setImmediate(resolve);
  });
async function nsPerCall() {
  for (let index = 0; index < 200; index += 1) await batch();
  const started = process.hrtime.bigint();
  for (let index = 0; index < 2000; index += 1) await batch();
  return Number(process.hrtime.bigint() - started) / 2e6;
}
const before = await nsPerCall();
for (let index = 0; index < 4; index += 1) {
  await new Promise((resolve) => setTimeout(resolve, 20));
  globalThis.gc();
}
const after = await nsPerCall();
process.stdout.write(`${JSON.stringify({ before, after })}\n`);
