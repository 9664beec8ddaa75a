import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { appliedMigrations } from '../../src/db/migrate.js';
import { MIGRATIONS } from '../../src/db/migrations/index.js';
import { DEFAULT_SERVICE_OPTIONS } from '../../src/lib/service-options.js';
import { createTestStorage, testBackends, type TestStorage } from '../helpers/backends.js';
import { freePort, startPrivgate, waitFor, type RunningProcess } from '../helpers/processes.js';

interface Answer {
  status: number;
  body: string;
}

function call(port: number, ca: Buffer, method: string, url: string, options: { token?: string; json?: unknown; form?: string; basic?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = options.form ?? (options.json === undefined ? undefined : JSON.stringify(options.json));
    const headers: Record<string, string> = {};
    if (payload !== undefined) headers['content-type'] = options.form ? 'application/x-www-form-urlencoded' : 'application/json';
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.basic) headers.authorization = `Basic ${options.basic}`;
    const outgoing = https.request({ host: '127.0.0.1', port, path: url, method, ca, headers, agent: false }, (incoming) => {
      let data = '';
      incoming.on('data', (chunk: Buffer) => (data += chunk.toString()));
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, body: data }));
    });
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

const storages: TestStorage[] = [];
const processes: RunningProcess[] = [];
afterAll(async () => {
  for (const process of processes) await process.stop();
  for (const storage of storages) await storage.cleanup();
});

describe.each(testBackends())('two serve nodes on one %s database', (backend) => {
  it('migrate once, share tokens and settings at once, and hand out an ICAP config exactly once across both', async () => {
    const storage = await createTestStorage(backend);
    storages.push(storage);
    const storageArgs = ['--data-dir', storage.dataDir, ...(storage.databaseUrl ? ['--database-url', storage.databaseUrl, '--database-schema', storage.databaseSchema ?? ''] : [])];
    const [portA, portB] = [await freePort(), await freePort()];
    // Both nodes start together against an empty database.
    const nodeA = startPrivgate(['serve', '--listen', `127.0.0.1:${portA}`, ...storageArgs], { PRIVGATE_LOG_LEVEL: 'warn' });
    const nodeB = startPrivgate(['serve', '--listen', `127.0.0.1:${portB}`, ...storageArgs], { PRIVGATE_LOG_LEVEL: 'warn' });
    processes.push(nodeA, nodeB);
    const caFile = path.join(storage.dataDir, 'tls', 'ca.pem');
    for (const [port, node] of [[portA, nodeA], [portB, nodeB]] as const) {
      await waitFor(async () => fs.existsSync(caFile) && (await call(port, fs.readFileSync(caFile), 'GET', '/auth/api/v1/status')).status === 200, 60_000, `node on ${port}`).catch((error: Error) => {
        throw new Error(`${error.message}; its output: ${node.output().slice(-2000)}`);
      });
    }
    const ca = fs.readFileSync(caFile);
    const database = await openDatabase(storage);
    try {
      expect(await appliedMigrations(database)).toEqual(MIGRATIONS.map(([name]) => name));
      const admins = await database.db.selectFrom('users').select('id').where('username', '=', 'admin').execute();
      expect(admins.length).toBe(1);
    } finally {
      await database.close();
    }

    const credentials = JSON.parse(execFileSync(process.execPath, [path.resolve('dist/cli/index.js'), 'api-client', 'create', '--name', 'two-nodes', '--role', 'privx-admin', ...storageArgs], { encoding: 'utf8' })) as {
      id: string;
      secret: string;
      oauth_client_id: string;
      oauth_client_secret: string;
    };
    const grant = await call(portA, ca, 'POST', '/auth/api/v1/oauth/token', {
      form: new URLSearchParams({ grant_type: 'password', username: credentials.id, password: credentials.secret }).toString(),
      basic: Buffer.from(`${credentials.oauth_client_id}:${credentials.oauth_client_secret}`).toString('base64'),
    });
    expect(grant.status, grant.body).toBe(200);
    const token = (JSON.parse(grant.body) as { access_token: string }).access_token;

    // A token from A works on B.
    expect((await call(portB, ca, 'GET', '/host-store/api/v1/settings/default_service_options', { token })).status).toBe(200);

    // A settings PUT on A is what B reads next.
    const changed = { ...DEFAULT_SERVICE_OPTIONS, web: { file_transfer: false, audio: false, clipboard: true } };
    expect((await call(portA, ca, 'PUT', '/settings/api/v1/settings/host-store/default_service_options', { token, json: changed })).status).toBe(200);
    const readOnB = await call(portB, ca, 'GET', '/host-store/api/v1/settings/default_service_options', { token });
    expect(JSON.parse(readOnB.body).web).toEqual({ file_transfer: false, audio: false, clipboard: true });

    // One config session, many simultaneous downloads split across both nodes: exactly one 200.
    const client = await call(portA, ca, 'POST', '/local-user-store/api/v1/trusted-clients', { token, json: { type: 'ICAP', name: 'proxy-two-nodes', enabled: true } });
    expect(client.status, client.body).toBe(201);
    const clientId = (JSON.parse(client.body) as { id: string }).id;
    for (let round = 0; round < 3; round += 1) {
      const session = await call(portB, ca, 'POST', `/authorizer/api/v1/icap/conf/${clientId}`, { token });
      expect(session.status, session.body).toBe(201);
      const sessionId = (JSON.parse(session.body) as { session_id: string }).session_id;
      const downloads = await Promise.all(
        Array.from({ length: 8 }, (_, index) => call(index % 2 === 0 ? portA : portB, ca, 'GET', `/authorizer/api/v1/icap/conf/${clientId}/${sessionId}`, { token })),
      );
      const statuses = downloads.map((download) => download.status).sort();
      expect(statuses.filter((status) => status === 200)).toHaveLength(1);
      expect(statuses.filter((status) => status === 404)).toHaveLength(7);
    }

    // A logout on B is honoured at once by B, and by A within the documented propagation bound (1 s).
    expect((await call(portB, ca, 'POST', '/auth/api/v1/logout', { token })).status).toBe(200);
    const loggedOut = Date.now();
    expect((await call(portB, ca, 'GET', '/host-store/api/v1/settings/default_service_options', { token })).status).toBe(401);
    await waitFor(async () => (await call(portA, ca, 'GET', '/host-store/api/v1/settings/default_service_options', { token })).status === 401, 5000, 'node A to honour the logout');
    expect(Date.now() - loggedOut).toBeLessThan(2500);
  }, 120_000);
});
