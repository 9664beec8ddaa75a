#!/usr/bin/env node
// `npm run bench`: every benchmark in bench/, each beside its baseline in one run, then one table.
// Loopback only; each load ≤ 10 s. Pass names (api-read, next-tick, token, scale, icap) to run a subset.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { printTable, ROOT } from '../bench/harness.mjs';

const ALL = ['api-read', 'next-tick', 'token', 'scale', 'icap'];
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;
execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
for (const name of chosen) {
  process.stdout.write(`bench: ${name}\n`);
  const module = await import(path.join(ROOT, 'bench', `${name}.bench.mjs`));
  await module.run();
}
printTable();
process.exit(0);
