/**
 * A whole web-access stack with real processes, for end-to-end tests that need one: `privgate
 * serve` (SQLite, its own CA), an admin API client, an ICAP trusted client and its
 * web-proxy-config.toml, one WEB host with the given principals, `privgate web-proxy`, Debian's
 * Squid calling it (bypass=off) and a loopback origin that records what reaches it.
 * (test/e2e/web-proxy.test.ts builds the same by hand, with more around it.)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort, startPrivgate, waitFor, type RunningProcess } from './processes.js';
import { startSquid, type RunningSquid } from './squid.js';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface OriginHit {
  method: string;
  path: string;
  bytes: number;
}

export interface WebStack {
  root: string;
  servePort: number;
  squidPort: number;
  originPort: number;
  hostId: string;
  /** Requests the origin received (with their body sizes). */
  originHits: OriginHit[];
  /** A control-plane API call with the admin's token. */
  api(method: string, url: string, body?: unknown): Promise<Answer>;
  /** Opens a web session for `principal` on the host; answers its token. */
  session(principal: string): Promise<string>;
  /** One request through Squid with the session header, as a browser sends it. */
  proxied(method: string, url: string, options: { token: string; headers?: Record<string, string>; body?: Buffer | string; chunked?: boolean }): Promise<Answer>;
  /** Every process's output, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

export interface WebStackOptions {
  /** Principals of the WEB host, as in `POST /host-store/api/v1/hosts`. */
  principals: Array<Record<string, unknown>>;
  /** Lines appended to web-proxy-config.toml (privgate extensions such as `[content]`). */
  extraToml?: string;
}

/** The e2e tests run the built CLI, like `npm test` (pretest builds); rebuilds when sources are newer. */
export function ensureBuilt(): void {
  const built = path.resolve('dist/webproxy/main.js');
  const newest = (directory: string): number =>
    Math.max(
      ...fs.readdirSync(directory, { withFileTypes: true }).map((entry) => {
        const full = path.join(directory, entry.name);
        return entry.isDirectory() ? newest(full) : fs.statSync(full).mtimeMs;
      }),
    );
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= newest(path.resolve('src'))) return;
  const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { encoding: 'utf8' });
  if (!fs.existsSync(built)) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
}

/**
 * One HTTPS call to `serve` on `port`, trusting `caPem`: a string body is sent as a form, anything
 * else as JSON; `token` is a bearer token, or a whole `Basic …` header.
 */
export function controlPlaneRequest(port: number, caPem: string, method: string, url: string, body?: unknown, token?: string | null): Promise<Answer> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = https.request(
      `https://127.0.0.1:${port}${url}`,
      {
        method,
        ca: caPem,
        agent: false,
        headers: {
          ...(token ? { authorization: token.startsWith('Basic') ? token : `Bearer ${token}` } : {}),
          ...(payload !== undefined ? { 'content-type': typeof body === 'string' ? 'application/x-www-form-urlencoded' : 'application/json' } : {}),
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

export async function startWebStack(options: WebStackOptions): Promise<WebStack> {
  const packages = spawnSync(process.execPath, ['scripts/ensure-system-packages.mjs', 'squid-openssl'], { encoding: 'utf8' });
  if (packages.status !== 0) throw new Error(`this e2e test needs Squid: ${packages.stderr || packages.stdout}`);
  ensureBuilt();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-web-stack-'));
  fs.chmodSync(root, 0o711);
  const dataDir = path.join(root, 'data');
  const proxyDir = path.join(root, 'proxy');
  fs.mkdirSync(proxyDir, { recursive: true });
  const configFile = path.join(proxyDir, 'web-proxy-config.toml');
  const [servePort, icapPort, metricsPort, squidPort, originPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);

  const originHits: OriginHit[] = [];
  const origin = http.createServer((request, response) => {
    let bytes = 0;
    request.on('data', (chunk: Buffer) => (bytes += chunk.length));
    request.on('end', () => {
      const pathName = (request.url ?? '/').split('?')[0]!;
      originHits.push({ method: request.method ?? '', path: pathName, bytes });
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ received: bytes }));
    });
  });
  await new Promise<void>((resolve) => origin.listen(originPort, '127.0.0.1', resolve));

  let caPem = '';
  let adminToken = '';
  const api = (method: string, url: string, body?: unknown, token: string | null = adminToken): Promise<Answer> => controlPlaneRequest(servePort, caPem, method, url, body, token);
  const json = async <T>(method: string, url: string, body?: unknown): Promise<T> => {
    const answer = await api(method, url, body);
    if (answer.status >= 300) throw new Error(`${method} ${url}: ${answer.status} ${answer.body}`);
    return JSON.parse(answer.body) as T;
  };

  let serve: RunningProcess | null = null;
  let webProxy: RunningProcess | null = null;
  let squid: RunningSquid | null = null;
  const stop = async (): Promise<void> => {
    await squid?.stop();
    await Promise.all([webProxy?.stop(), serve?.stop()]);
    await new Promise<void>((resolve) => origin.close(() => resolve()));
    fs.rmSync(root, { recursive: true, force: true });
  };
  const logs = (): string => `--- web-proxy\n${webProxy?.output() ?? ''}\n--- serve\n${serve?.output() ?? ''}\n--- squid\n${squid?.cacheLog() ?? ''}`;

  try {
    serve = startPrivgate(['serve', '--listen', `127.0.0.1:${servePort}`, '--data-dir', dataDir, '--log-level', 'warn'], { PRIVGATE_ADMIN_PASSWORD: 'web stack admin password' });
    await waitFor(
      async () => fs.existsSync(path.join(dataDir, 'tls', 'ca.pem')) && (caPem = fs.readFileSync(path.join(dataDir, 'tls', 'ca.pem'), 'utf8')) !== '' && (await api('GET', '/auth/api/v1/status', undefined, null)).status === 200,
      20_000,
      'privgate serve',
    );
    const created = spawnSync(process.execPath, ['dist/cli/index.js', 'api-client', 'create', '--name', 'stack-admin', '--role', 'privx-admin', '--data-dir', dataDir], { encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`api-client create failed: ${created.stderr}`);
    const client = JSON.parse(created.stdout) as { id: string; secret: string; oauth_client_id: string; oauth_client_secret: string };
    const basic = `Basic ${Buffer.from(`${client.oauth_client_id}:${client.oauth_client_secret}`).toString('base64')}`;
    const token = await api('POST', '/auth/api/v1/oauth/token', new URLSearchParams({ grant_type: 'password', username: client.id, password: client.secret }).toString(), basic);
    adminToken = (JSON.parse(token.body) as { access_token: string }).access_token;

    const trusted = await json<{ id: string }>('POST', '/local-user-store/api/v1/trusted-clients', { type: 'ICAP', name: 'stack web proxy', enabled: true, web_proxy_address: '127.0.0.1', web_proxy_port: String(squidPort) });
    const conf = await json<{ session_id: string }>('POST', `/authorizer/api/v1/icap/conf/${trusted.id}`);
    const toml = await api('GET', `/authorizer/api/v1/icap/conf/${trusted.id}/${conf.session_id}`);
    if (toml.status !== 200) throw new Error(`config download: ${toml.status} ${toml.body}`);
    fs.writeFileSync(configFile, `${toml.body}\n${options.extraToml ?? ''}\n`, { mode: 0o600 });

    const host = await json<{ id: string }>('POST', '/host-store/api/v1/hosts', {
      common_name: 'stack web app',
      addresses: ['127.0.0.1'],
      services: [{ service: 'WEB', address: 'app.example.test', port: originPort, allowed_domains: [] }],
      principals: options.principals,
    });

    webProxy = startPrivgate(['web-proxy', '--config', configFile, '--icap-listen', `127.0.0.1:${icapPort}`, '--metrics-listen', `127.0.0.1:${metricsPort}`]);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status === 200, 20_000, 'the web proxy to load its policy');
    squid = await startSquid({
      name: `privgatestack${process.pid}`,
      directory: path.join(root, 'squid'),
      httpPort: squidPort,
      icapPort,
      reqmodService: 'privgate-reqmod',
      respmodService: 'privgate-respmod',
      localNames: ['app.example.test'],
    });

    return {
      root,
      servePort,
      squidPort,
      originPort,
      hostId: host.id,
      originHits,
      api: (method, url, body) => api(method, url, body),
      session: async (principal) => (await json<{ token: string }>('POST', '/authorizer/api/v1/icap/sessions', { host_id: host.id, principal })).token,
      proxied: (method, url, request) => {
        const headers: Record<string, string> = { host: new URL(url).host, 'x-privgate-session': request.token, ...request.headers };
        if (request.body !== undefined && !request.chunked) headers['content-length'] = String(Buffer.byteLength(request.body));
        if (request.chunked) headers['transfer-encoding'] = 'chunked';
        return new Promise((resolve, reject) => {
          const outgoing = http.request({ host: '127.0.0.1', port: squidPort, method, path: url, headers, agent: false }, (response) => {
            let text = '';
            response.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
          });
          outgoing.setTimeout(20_000, () => outgoing.destroy(new Error('timeout')));
          outgoing.on('error', reject);
          if (request.chunked && request.body !== undefined) {
            // Several chunks, like a streaming client.
            const body = Buffer.from(request.body);
            for (let offset = 0; offset < body.length; offset += 16 * 1024) outgoing.write(body.subarray(offset, offset + 16 * 1024));
            outgoing.end();
          } else {
            outgoing.end(request.body);
          }
        });
      },
      logs,
      stop,
    };
  } catch (error) {
    const message = `${(error as Error).message}\n${logs()}`;
    await stop().catch(() => undefined);
    throw new Error(message);
  }
}
