#!/usr/bin/env node
// Runs the whole suite with vitest and says which database backends the API suite ran on.
import { spawnSync } from 'node:child_process';

const backends = ['sqlite'];
if (process.env.PRIVGATE_TEST_DATABASE_URL) backends.push('postgres');
const only = process.env.PRIVGATE_TEST_BACKENDS?.split(',').map((value) => value.trim());
const active = only ? backends.filter((backend) => only.includes(backend)) : backends;
process.stdout.write(`privgate tests: API suite backends = ${active.join(', ') || 'none'}\n`);

const result = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)], { stdio: 'inherit' });
process.stdout.write(`privgate tests: backends that ran = ${active.join(', ')}\n`);
process.exit(result.status ?? 1);
