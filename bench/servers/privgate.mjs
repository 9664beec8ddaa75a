// `privgate serve` as the benchmarks run it: the real buildApp over HTTPS with the self-made CA,
// plus an admin API client whose credentials it prints for the load generator.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../../dist/app.js';
import { loadConfig } from '../../dist/config.js';
import { ensureLocalTls } from '../../dist/tls-files.js';
import { createApiClient } from '../../dist/services/local-user-store/api-client-repository.js';
import { ADMIN_ROLE_ID } from '../../dist/services/role-store/permissions.js';

const [port, dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-bench-'))] = process.argv.slice(2);
const config = loadConfig({ listen: `127.0.0.1:${port}`, dataDir, logLevel: 'warn' }, { ...process.env, PRIVGATE_ADMIN_PASSWORD: 'bench-admin-password' });
const tls = await ensureLocalTls({ directory: path.join(dataDir, 'tls'), extraNames: [] });
const app = await buildApp(config, { https: { key: tls.keyPem, cert: tls.certPem }, tlsCaPem: tls.caPem });
await app.listen({ host: config.host, port: config.port });
const credentials = await createApiClient(app.context.database.db, app.context, { name: `bench-${Date.now()}`, roles: [{ id: ADMIN_ROLE_ID }] }, 'bench', new Date());
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
process.stdout.write(`READY ${JSON.stringify({ port: Number(port), dataDir, caFile: path.join(dataDir, 'tls', 'ca.pem'), credentials })}\n`);
