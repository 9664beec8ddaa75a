import { createHook } from 'node:async_hooks';

let held: object | undefined;

const noop = (): void => {};

/**
 * Keeps one of Node's `process.nextTick` tick objects alive for the life of the process, so that
 * `process.nextTick` stays fast. Call once, early (before the first full garbage collection).
 *
 * Why: Node builds each tick object with an object literal that has computed keys
 * (`{ [async_id_symbol]: …, [trigger_async_id_symbol]: …, callback, args }`). V8 defines such
 * keys through a runtime function that remembers, weakly, the object shape ("map") it last saw,
 * and switches the site to its generic path for good as soon as it sees another one. Tick objects
 * live for microseconds; when a full collection runs while none is alive (an idle server, a
 * moment after start-up), their shapes die with them, the next tick object gets a fresh shape,
 * and from then on every `process.nextTick` takes the runtime path: measured 50 → 250 ns per call
 * with Node 20, for the rest of the process. Node's HTTP, TLS and stream code calls it several
 * times per request; on the API read benchmark this was ~3 µs of the ~28 µs of CPU per request.
 * A tick object that is never collected keeps its shape, and the shapes before it, alive.
 *
 * The tick object is taken from the one public place that hands it out, an async hook's `init`,
 * enabled only around one `process.nextTick` call. Returns the held object (undefined if this
 * Node version builds no tick object there; then nothing is held and nothing else changes).
 */
export function holdTickObjectShape(): object | undefined {
  held ??= newTickObject();
  return held;
}

/** A tick object of a `process.nextTick` call made now, taken from an async hook's `init` (undefined if none is built). */
export function newTickObject(): object | undefined {
  let made: object | undefined;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject' && made === undefined) made = resource as object;
    },
  });
  hook.enable();
  try {
    process.nextTick(noop);
  } finally {
    hook.disable();
  }
  return made;
}
