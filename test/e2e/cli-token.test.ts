/**
 * `privgate token`: a human (the built-in admin) turns its password into an access token against
 * a real `privgate serve`, through the authorization-code + PKCE flow of the `privx-ui` client.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startPrivgate, waitFor, type RunningProcess } from '../helpers/processes.js';

const PASSWORD = 'token helper admin password';
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-cli-token-'));
const dataDir = path.join(root, 'data');
let port = 0;
let serve: RunningProcess | null = null;
let ca = '';

function get(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(`https://127.0.0.1:${port}${url}`, { ca, agent: false, headers: { authorization: `Bearer ${token}` } }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Runs the built CLI with `input` on standard input (a pipe, not a terminal). */
function privgate(args: string[], input: string, cwd = root): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.resolve('dist/cli/index.js'), ...args], { cwd, env: { ...process.env, PRIVGATE_PUBLIC_URL: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

beforeAll(async () => {
  if (!fs.existsSync(path.resolve('dist/cli/index.js'))) throw new Error('run `npm run build` first');
  port = await freePort();
  serve = startPrivgate(['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'warn'], { PRIVGATE_ADMIN_PASSWORD: PASSWORD });
  await waitFor(async () => {
    if (!fs.existsSync(path.join(dataDir, 'tls', 'ca.pem'))) return false;
    ca = fs.readFileSync(path.join(dataDir, 'tls', 'ca.pem'), 'utf8');
    return (await get('/auth/api/v1/status', '')).status === 200;
  }, 20_000, 'privgate serve').catch((error: Error) => {
    throw new Error(`${error.message}\n${serve?.output()}`);
  });
}, 30_000);

afterAll(async () => {
  await serve?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('privgate token', () => {
  it('prints an access token for the admin, read from the password on standard input; the token works', async () => {
    const result = await privgate(['token', '--user', 'admin', '--url', `https://127.0.0.1:${port}`, '--ca', path.join(dataDir, 'tls', 'ca.pem')], `${PASSWORD}\n`);
    expect(result.status, result.stderr).toBe(0);
    const token = result.stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    expect(result.stderr).not.toContain(PASSWORD);
    const answer = await get('/host-store/api/v1/settings/default_service_options', token);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toHaveProperty('web.file_transfer');
  });

  it('uses ./data/tls/ca.pem by default and prints the whole answer with --json', async () => {
    const result = await privgate(['token', '--user', 'admin', '--url', `https://127.0.0.1:${port}`, '--json'], PASSWORD);
    expect(result.status, result.stderr).toBe(0);
    const answer = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(answer).toMatchObject({ token_type: 'Bearer' });
    expect(typeof answer.access_token).toBe('string');
    expect(typeof answer.refresh_token).toBe('string');
  });

  it('refuses a wrong password with the server’s error and prints no token', async () => {
    const result = await privgate(['token', '--user', 'admin', '--url', `https://127.0.0.1:${port}`], 'not the password\n');
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('login failed: 401 UNAUTHORIZED');
    expect(result.stderr).not.toContain('not the password');
  });

  it('fails on a server whose certificate the CA does not vouch for (no silent trust)', async () => {
    const result = await privgate(['token', '--user', 'admin', '--url', `https://127.0.0.1:${port}`], PASSWORD, os.tmpdir());
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
  });
});
