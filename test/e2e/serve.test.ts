import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startPrivgate, waitFor } from '../helpers/processes.js';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-serve-'));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

function curl(url: string, caFile: string): { status: number; body: string } {
  const out = execFileSync('curl', ['-sS', '--cacert', caFile, '-w', '\n%{http_code}', url], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = out.split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n') };
}

describe('privgate serve as a real process', () => {
  it('serves HTTPS verifiable with curl --cacert DATA/tls/ca.pem, reuses its CA and data across a restart, and exits cleanly on SIGTERM', async () => {
    const port = await freePort();
    const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir];
    const first = startPrivgate(args, { PRIVGATE_ADMIN_PASSWORD: '' });
    const caFile = path.join(dataDir, 'tls', 'ca.pem');
    const url = `https://127.0.0.1:${port}/host-store/api/v1/status`;
    await waitFor(async () => fs.existsSync(caFile) && curl(url, caFile).status === 200, 20_000, 'serve to answer');
    const status = curl(url, caFile);
    expect(JSON.parse(status.body)).toMatchObject({ status: 'ok', app_id: 'host-store' });
    // The certificate also verifies by name.
    expect(curl(`https://localhost:${port}/auth/api/v1/status`, caFile).status).toBe(200);
    expect(fs.statSync(path.join(dataDir, 'tls', 'ca-key.pem')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dataDir, 'tls', 'server-key.pem')).mode & 0o777).toBe(0o600);
    const passwordFile = path.join(dataDir, 'initial-admin-password');
    expect(fs.statSync(passwordFile).mode & 0o777).toBe(0o600);
    const password = fs.readFileSync(passwordFile, 'utf8').trim();
    expect(password.length).toBeGreaterThanOrEqual(20);
    expect(first.output()).not.toContain(password);
    const caBefore = fs.readFileSync(caFile, 'utf8');
    expect(await first.stop()).toBe(0);

    const second = startPrivgate(args);
    await waitFor(async () => curl(url, caFile).status === 200, 20_000, 'restarted serve');
    expect(fs.readFileSync(caFile, 'utf8')).toBe(caBefore);
    expect(fs.readFileSync(passwordFile, 'utf8').trim()).toBe(password);
    expect(await second.stop()).toBe(0);
    // Log lines are JSON.
    const lines = second.output().split('\n').filter(Boolean);
    expect(lines.every((line) => line.startsWith('{'))).toBe(true);
  });

  it('a node refuses connections beyond PRIVGATE_MAX_CONNECTIONS and keeps serving the ones it has', async () => {
    const net = await import('node:net');
    const port = await freePort();
    const server = startPrivgate(['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], { PRIVGATE_MAX_CONNECTIONS: '4' });
    const caFile = path.join(dataDir, 'tls', 'ca.pem');
    try {
      await waitFor(async () => curl(`https://127.0.0.1:${port}/auth/api/v1/status`, caFile).status === 200, 20_000, 'serve');
      const held = await Promise.all(
        [0, 1, 2, 3].map(
          () =>
            new Promise<Socket>((resolve, reject) => {
              const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
              socket.on('error', reject);
            }),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      // The fifth connection is accepted by the kernel and closed by the server straight away.
      const closed = await new Promise<boolean>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.on('close', () => resolve(true));
        socket.on('error', () => resolve(true));
        setTimeout(() => resolve(false), 3000);
      });
      expect(closed).toBe(true);
      for (const socket of held) socket.destroy();
      await waitFor(async () => curl(`https://127.0.0.1:${port}/auth/api/v1/status`, caFile).status === 200, 10_000, 'serve after release');
    } finally {
      await server.stop();
    }
  });

  it('every command answers --help', () => {
    for (const command of [[], ['serve'], ['migrate'], ['api-client', 'create']]) {
      const out = execFileSync(process.execPath, [path.resolve('dist/cli/index.js'), ...command, '--help'], { encoding: 'utf8' });
      expect(out).toContain('Usage: privgate');
    }
  });
});
