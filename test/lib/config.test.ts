/**
 * `loadConfig` refuses a log level pino does not know with a message naming the allowed levels,
 * and `privgate serve` prints that message and exits non-zero before it creates anything.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const ALLOWED = 'fatal, error, warn, info, debug, trace, silent';

describe('loadConfig: the log level', () => {
  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])('accepts PRIVGATE_LOG_LEVEL=%s', (level) => {
    expect(loadConfig({}, { PRIVGATE_LOG_LEVEL: level }).logLevel).toBe(level);
  });

  it('defaults to info when PRIVGATE_LOG_LEVEL is unset or empty', () => {
    expect(loadConfig({}, {}).logLevel).toBe('info');
    expect(loadConfig({}, { PRIVGATE_LOG_LEVEL: '' }).logLevel).toBe('info');
  });

  it('the --log-level flag wins over PRIVGATE_LOG_LEVEL', () => {
    expect(loadConfig({ logLevel: 'warn' }, { PRIVGATE_LOG_LEVEL: 'debug' }).logLevel).toBe('warn');
  });

  it.each(['loud', 'INFO', 'verbose', ' info', '10'])('rejects PRIVGATE_LOG_LEVEL=%j with a ConfigError naming the variable and the allowed levels', (level) => {
    const load = () => loadConfig({}, { PRIVGATE_LOG_LEVEL: level });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(`PRIVGATE_LOG_LEVEL must be one of ${ALLOWED}; got ${JSON.stringify(level)}`);
  });

  it('rejects an unknown --log-level naming the flag and the allowed levels', () => {
    const load = () => loadConfig({ logLevel: 'loud' }, {});
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(`--log-level must be one of ${ALLOWED}; got "loud"`);
  });
});

describe('loadConfig: the fast path switch', () => {
  it('is on unless PRIVGATE_FAST_PATH=off', () => {
    expect(loadConfig({}, {}).fastPath).toBe(true);
    expect(loadConfig({}, { PRIVGATE_FAST_PATH: '' }).fastPath).toBe(true);
    expect(loadConfig({}, { PRIVGATE_FAST_PATH: 'on' }).fastPath).toBe(true);
    expect(loadConfig({}, { PRIVGATE_FAST_PATH: 'off' }).fastPath).toBe(false);
  });

  it.each(['0', 'false', 'OFF', 'no', ' off'])('rejects PRIVGATE_FAST_PATH=%j with a ConfigError naming the variable and the two values', (value) => {
    const load = () => loadConfig({}, { PRIVGATE_FAST_PATH: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(`PRIVGATE_FAST_PATH must be on or off; got ${JSON.stringify(value)}`);
  });
});

/** Runs the built CLI and collects its output. */
function privgate(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.resolve('dist/cli/index.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('privgate serve with an unknown PRIVGATE_LOG_LEVEL', () => {
  it('prints one clear line naming the allowed levels, exits non-zero and creates nothing in the data directory', async () => {
    if (!fs.existsSync(path.resolve('dist/cli/index.js'))) throw new Error('run `npm run build` first');
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-log-level-'));
    const dataDir = path.join(root, 'data');
    try {
      const result = await privgate(['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], { PRIVGATE_LOG_LEVEL: 'loud' });
      expect(result.status).not.toBe(0);
      expect(result.status).not.toBeNull();
      expect(result.stderr).toBe(`privgate: PRIVGATE_LOG_LEVEL must be one of ${ALLOWED}; got "loud"\n`);
      expect(result.stdout).toBe('');
      expect(fs.existsSync(dataDir)).toBe(false);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
