import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { holdTickObjectShape } from '../../src/lib/tick-shape.js';

/** Runs `body` as an ES module in a fresh Node with `gc()` and V8's `%` functions; returns its JSON output. */
function inFreshNode(body: string): unknown {
  const module = pathToFileURL(path.resolve('dist/lib/tick-shape.js')).href;
  const script = `
    import { holdTickObjectShape, newTickObject } from ${JSON.stringify(module)};
    const fullCollectionsWhileIdle = async (count) => {
      for (let index = 0; index < count; index += 1) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        globalThis.gc();
      }
    };
    ${body}`;
  return JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' }));
}

describe('holding a tick object (process.nextTick speed)', () => {
  it("holds one of Node's own tick objects, and the same one on every call", () => {
    const held = holdTickObjectShape();
    expect(held).toBeDefined();
    expect(Object.keys(held as object)).toEqual(['callback', 'args']);
    expect(Object.getOwnPropertySymbols(held).map((symbol) => symbol.description)).toEqual(['async_id_symbol', 'trigger_async_id_symbol']);
    expect(holdTickObjectShape()).toBe(held);
  });

  it('tick objects made after full collections while none was in use still have the held shape', () => {
    const result = inFreshNode(`
      const held = holdTickObjectShape();
      await fullCollectionsWhileIdle(4);
      console.log(JSON.stringify({ sameShape: %HaveSameMap(held, newTickObject()) }));
    `);
    expect(result).toEqual({ sameShape: true });
  });

});
