// A throwaway `privgate serve` for the SDK compatibility suite and the coverage report: a fresh
// data directory, a migrated database, an API client with the privx-admin role (written with
// `privgate api-client create --out`), and the server on a free port of 127.0.0.1.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'index.js');
// The server must use its own data directory, whatever the caller's environment says.
const CLEAN_ENV = { ...process.env, DATABASE_URL: '', PRIVGATE_DATA_DIR: '', PRIVGATE_ADMIN_PASSWORD: '' };

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function privgate(args) {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: CLEAN_ENV });
  if (result.status !== 0) throw new Error(`privgate ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result;
}

/** GET over HTTPS trusting only `ca`; resolves { status, body }. */
export function httpsGet(url, ca) {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    request.setTimeout(5000, () => request.destroy(new Error('timeout')));
  });
}

/**
 * Starts the server. `withClient` also creates the API client. Resolves { url, port, dataDir,
 * caFile, ca, tlsDir, clientFile, output(), stop() }.
 */
export async function startServer({ withClient = true } = {}) {
  if (!fs.existsSync(CLI)) throw new Error('dist/cli/index.js is missing: run `npm run build` first');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-compat-'));
  privgate(['migrate', '--data-dir', dataDir]);
  const clientFile = path.join(dataDir, 'compat-api-client.json');
  if (withClient) privgate(['api-client', 'create', '--name', 'sdk-compat-suite', '--role', 'privx-admin', '--out', clientFile, '--data-dir', dataDir]);
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], { env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const tlsDir = path.join(dataDir, 'tls');
  const caFile = path.join(tlsDir, 'ca.pem');
  const url = `https://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`privgate serve exited with ${child.exitCode}:\n${output}`);
    }
    try {
      if (fs.existsSync(caFile) && (await httpsGet(`${url}/auth/api/v1/status`, fs.readFileSync(caFile))).status === 200) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`privgate serve did not answer within 30 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  return { url, port, dataDir, tlsDir, caFile, ca: fs.readFileSync(caFile), clientFile, output: () => output, stop };
}
