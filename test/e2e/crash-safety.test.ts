import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestStorage, testBackends, type TestStorage } from '../helpers/backends.js';
import { freePort, startPrivgate, waitFor, type RunningProcess } from '../helpers/processes.js';

interface Response {
  status: number;
  body: string;
}

const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 8 });

function request(port: number, ca: Buffer, method: string, url: string, token?: string, body?: unknown, form?: string, basic?: string, agent: https.Agent | false = false): Promise<Response> {
  return new Promise((resolve, reject) => {
    const payload = form ?? (body === undefined ? undefined : JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (payload !== undefined) headers['content-type'] = form ? 'application/x-www-form-urlencoded' : 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    if (basic) headers.authorization = `Basic ${basic}`;
    const outgoing = https.request({ host: '127.0.0.1', port, path: url, method, ca, headers, agent }, (incoming) => {
      let data = '';
      incoming.on('data', (chunk: Buffer) => (data += chunk.toString()));
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, body: data }));
      incoming.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

const storages: TestStorage[] = [];
afterAll(async () => {
  for (const storage of storages) await storage.cleanup();
});

describe.each(testBackends())('crash safety on %s', (backend) => {
  it('after kill -9 during a stream of writes, every write that got a 2xx is present after restart', async () => {
    const storage = await createTestStorage(backend);
    storages.push(storage);
    const storageArgs = ['--data-dir', storage.dataDir, ...(storage.databaseUrl ? ['--database-url', storage.databaseUrl, '--database-schema', storage.databaseSchema ?? ''] : [])];
    // api-client create refuses a database nobody initialised; `migrate` is the documented first step without serve.
    execFileSync(process.execPath, [path.resolve('dist/cli/index.js'), 'migrate', ...storageArgs], { encoding: 'utf8' });
    const credentials = JSON.parse(
      execFileSync(process.execPath, [path.resolve('dist/cli/index.js'), 'api-client', 'create', '--name', 'crash', '--role', 'privx-admin', ...storageArgs], { encoding: 'utf8' }),
    ) as { id: string; secret: string; oauth_client_id: string; oauth_client_secret: string };
    const port = await freePort();
    const acknowledged: Array<{ kind: 'role' | 'user'; id: string }> = [];
    let token = '';
    let ca = Buffer.alloc(0);
    let server: RunningProcess | undefined;

    for (let round = 0; round < 4; round += 1) {
      server = startPrivgate(['serve', '--listen', `127.0.0.1:${port}`, ...storageArgs], { PRIVGATE_LOG_LEVEL: 'warn' });
      const caFile = path.join(storage.dataDir, 'tls', 'ca.pem');
      await waitFor(async () => fs.existsSync(caFile) && (await request(port, fs.readFileSync(caFile), 'GET', '/auth/api/v1/status')).status === 200, 20_000, 'serve');
      ca = fs.readFileSync(caFile);
      if (!token) {
        const grant = await request(port, ca, 'POST', '/auth/api/v1/oauth/token', undefined, undefined, new URLSearchParams({ grant_type: 'password', username: credentials.id, password: credentials.secret }).toString(), Buffer.from(`${credentials.oauth_client_id}:${credentials.oauth_client_secret}`).toString('base64'));
        expect(grant.status, grant.body).toBe(200);
        token = (JSON.parse(grant.body) as { access_token: string }).access_token;
      }
      // Writers stream creates until the process dies under them.
      let alive = true;
      const writer = async (worker: number) => {
        for (let index = 0; alive; index += 1) {
          const kind = index % 2 === 0 ? 'role' : 'user';
          const name = `r${round}-w${worker}-${index}`;
          try {
            const response =
              kind === 'role'
                ? await request(port, ca, 'POST', '/role-store/api/v1/roles', token, { name, permissions: ['hosts-view'] })
                : await request(port, ca, 'POST', '/local-user-store/api/v1/users', token, { username: name, email: `${name}@example.test` });
            if (response.status === 201) acknowledged.push({ kind, id: (JSON.parse(response.body) as { id: string }).id });
          } catch {
            return; // the connection died with the process
          }
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      await new Promise((resolve) => setTimeout(resolve, 300 + round * 150));
      server.child.kill('SIGKILL');
      await server.exited;
      alive = false;
      await Promise.all(writers);
    }

    expect(acknowledged.length).toBeGreaterThan(20);
    server = startPrivgate(['serve', '--listen', `127.0.0.1:${port}`, ...storageArgs], { PRIVGATE_LOG_LEVEL: 'warn' });
    await waitFor(async () => (await request(port, ca, 'GET', '/auth/api/v1/status')).status === 200, 20_000, 'final serve');
    const missing: string[] = [];
    const verify = async (write: { kind: 'role' | 'user'; id: string }) => {
      const url = write.kind === 'role' ? `/role-store/api/v1/roles/${write.id}` : `/local-user-store/api/v1/users/${write.id}`;
      const response = await request(port, ca, 'GET', url, token, undefined, undefined, undefined, keepAlive);
      if (response.status !== 200) missing.push(`${write.kind} ${write.id}: ${response.status}`);
    };
    for (let start = 0; start < acknowledged.length; start += 8) await Promise.all(acknowledged.slice(start, start + 8).map(verify));
    keepAlive.destroy();
    process.stdout.write(`crash safety (${backend}): ${acknowledged.length} acknowledged writes over 4 kills, all present\n`);
    expect(await server.stop()).toBe(0);
    expect(missing).toEqual([]);
    if (backend === 'sqlite') {
      const database = new BetterSqlite3(path.join(storage.dataDir, 'privgate.db'), { readonly: true });
      try {
        expect(database.pragma('integrity_check', { simple: true })).toBe('ok');
      } finally {
        database.close();
      }
    }
  }, 120_000);
});
