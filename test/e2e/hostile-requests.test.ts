import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startPrivgate, waitFor, type RunningProcess } from '../helpers/processes.js';

/**
 * A real `privgate serve` (HTTPS with its own CA) takes a corpus of hostile URLs, query strings,
 * headers and bodies on every route of its OpenAPI document, sent as raw bytes (Node's HTTP client
 * refuses to send most of them). Every one must get a well-formed HTTP answer below 500, every error
 * the PrivX envelope, and the same process must still answer afterwards.
 */
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-hostile-'));
let server: RunningProcess | undefined;
afterAll(async () => {
  await server?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `bytes` on a fresh TLS connection and reads until the server closes it; undefined when no HTTP answer came. */
function exchange(port: number, ca: Buffer, bytes: Buffer): Promise<{ raw: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ raw: Buffer.concat(chunks), error: 'timeout' });
    }, 15_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      // A reset after a complete answer (the server closes a refused request's connection) is fine.
      clearTimeout(timer);
      resolve({ raw: Buffer.concat(chunks), error: error.message });
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ raw: Buffer.concat(chunks) });
    });
  });
}

/** One HTTP/1.1 response off the wire (content-length or chunked), or a reason it is not one. */
function parseAnswer(raw: Buffer): Answer | string {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return `no complete response head: ${JSON.stringify(text.slice(0, 200))}`;
  const [statusLine = '', ...headerLines] = text.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
  if (!match) return `bad status line ${JSON.stringify(statusLine)}`;
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    for (let offset = 0; ; ) {
      const lineEnd = body.indexOf('\r\n', offset);
      if (lineEnd < 0) return 'truncated chunked body';
      const size = parseInt(body.subarray(offset, lineEnd).toString('latin1'), 16);
      if (size === 0) break;
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      offset = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (body.length < length) return `body shorter (${body.length}) than content-length ${length}`;
    body = body.subarray(0, length);
  }
  return { status: Number(match[1]), headers, body: body.toString('utf8') };
}

/** Why `answer` is not acceptable for a hostile request, or undefined. */
function fault(answer: Answer): string | undefined {
  if (answer.status >= 500) return `status ${answer.status}`;
  if (answer.status < 400) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return 'error body is not JSON';
  }
  const envelope = body as Record<string, unknown>;
  if (typeof envelope.error_code !== 'string' || typeof envelope.error_message !== 'string') return 'error body is not the envelope';
  if (!Object.keys(envelope).every((key) => ['error_code', 'error_message', 'property', 'details'].includes(key))) return 'envelope has foreign keys';
  if (/\n\s+at |node_modules|FST_ERR|SQLITE_/.test(answer.body)) return 'internals in the error body';
  return undefined;
}

interface Hostile {
  name: string;
  /** The request bytes for a route (method, concrete path with the placeholder id) and a good token. */
  bytes(method: string, route: string, token: string): Buffer;
}

const CRLF = '\r\n';
function request(method: string, target: string, headers: string[], body: Buffer | string = ''): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head = [`${method} ${target} HTTP/1.1`, 'Host: localhost', ...headers, 'Connection: close'];
  if (payload.length > 0 && !headers.some((header) => /^(content-length|transfer-encoding):/i.test(header))) head.push(`Content-Length: ${payload.length}`);
  return Buffer.concat([Buffer.from(head.join(CRLF) + CRLF + CRLF, 'latin1'), payload]);
}

const PLACEHOLDER = '00000000-0000-4000-8000-00000000dead';
const hasParam = (template: string) => /\{[^}]+\}/.test(template);
/** The route's path with every parameter set to `value` (already encoded), or with a hostile segment appended when it has none. */
const withParam = (template: string, value: string) => (hasParam(template) ? template.replace(/\{[^}]+\}/g, value) : `${template}/${value}`);
const concrete = (template: string) => template.replace(/\{[^}]+\}/g, PLACEHOLDER);
const auth = (token: string) => `Authorization: Bearer ${token}`;
const json = 'Content-Type: application/json';

const PATH_VALUES = ['%zz', '%', '%C0%AE', '%FF%FE', '%00', '%E0%A4%A', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', 'a'.repeat(600), '%ED%A0%80'];
const QUERIES = ['%=1', '%zz=%zz', 'a=%C0%AE&%FF%FE=1', 'token%=secret', 'x=%00', `${'k'.repeat(10_000)}=1`, 'limit=%FF&offset=%C0%AE', '&&&==&', 'offset=-1&limit=1e999', 'sortdir=%00&sortkey=%zz', 'filter=%7B%22a%22%3A1%7D&filter=2'];

const CORPUS: Hostile[] = [
  ...PATH_VALUES.map((value): Hostile => ({ name: `path ${value.slice(0, 20)}`, bytes: (method, route, token) => request(method, withParam(route, value), [auth(token), json]) })),
  ...QUERIES.map((query): Hostile => ({ name: `query ${query.slice(0, 20)}`, bytes: (method, route, token) => request(method, `${concrete(route)}?${query}`, [auth(token), json]) })),
  { name: 'raw bytes in the path', bytes: (method, route, token) => Buffer.concat([Buffer.from(`${method} ${concrete(route)}/`, 'latin1'), Buffer.from([0xff, 0xfe, 0xc0, 0xae]), request('', '', [auth(token)]).subarray(1)]) },
  { name: 'a space in the path', bytes: (method, route, token) => request(method, `${concrete(route)}/a b`, [auth(token)]) },
  { name: 'empty bearer', bytes: (method, route) => request(method, concrete(route), ['Authorization: Bearer ']) },
  { name: 'bearer without a space', bytes: (method, route) => request(method, concrete(route), ['Authorization: Bearer']) },
  { name: 'empty authorization', bytes: (method, route) => request(method, concrete(route), ['Authorization:']) },
  { name: 'two authorizations', bytes: (method, route, token) => request(method, concrete(route), [auth(token), 'Authorization: Bearer x.y.z']) },
  { name: 'basic garbage', bytes: (method, route) => request(method, concrete(route), ['Authorization: Basic %%%%']) },
  { name: '10 KB bearer', bytes: (method, route) => request(method, concrete(route), [`Authorization: Bearer ${'A'.repeat(10_000)}`]) },
  { name: '10 KB header name', bytes: (method, route, token) => request(method, concrete(route), [auth(token), `${'X'.repeat(10_000)}: 1`]) },
  { name: 'headers beyond the limit', bytes: (method, route, token) => request(method, concrete(route), [auth(token), `X-A: ${'a'.repeat(10_000)}`, `X-B: ${'b'.repeat(10_000)}`]) },
  { name: 'repeated and empty content-type', bytes: (method, route, token) => request(method, concrete(route), [auth(token), json, 'Content-Type:', json], '{}') },
  { name: 'empty host and accept-version', bytes: (method, route, token) => request(method, concrete(route), [auth(token), 'Host:', 'Accept-Version: %zz']) },
  { name: 'control character in a header', bytes: (method, route, token) => request(method, concrete(route), [auth(token), 'X-Evil: a\u0001b']) },
  { name: 'NUL in a header', bytes: (method, route, token) => request(method, concrete(route), [auth(token), 'X-Evil: a\u0000b']) },
  { name: 'bad content-length', bytes: (method, route, token) => request(method, concrete(route), [auth(token), json, 'Content-Length: abc']) },
  { name: 'content-length and chunked', bytes: (method, route, token) => request(method, concrete(route), [auth(token), json, 'Content-Length: 2', 'Transfer-Encoding: chunked'], '2\r\n{}\r\n0\r\n\r\n') },
  { name: 'body 20,000 deep', bytes: (method, route, token) => request(method, concrete(route), [auth(token), json], `{"name":"deep","extra":${'['.repeat(20_000)}${']'.repeat(20_000)}}`) },
  { name: 'body not JSON', bytes: (method, route, token) => request(method, concrete(route), [auth(token), json], '{"name":') },
  { name: 'body invalid UTF-8', bytes: (method, route, token) => request(method, concrete(route), [auth(token), json], Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])) },
  { name: 'body with NUL', bytes: (method, route, token) => request(method, concrete(route), [auth(token), json], '{"name":"a\\u0000b"}') },
  { name: 'form body bad encoding', bytes: (method, route, token) => request(method, concrete(route), [auth(token), 'Content-Type: application/x-www-form-urlencoded'], '%zz=%FF&grant_type=%C0%AE') },
];

// Routes whose success ends the test's own session, or that wait by design.
const SKIPPED = [/\/logout$/, /\/icap\/policy$/];

describe('privgate serve under hostile requests', () => {
  it('answers every hostile request on every route in the envelope below 500, and keeps serving', async () => {
    const port = await freePort();
    server = startPrivgate(['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], { PRIVGATE_ADMIN_PASSWORD: '', PRIVGATE_LOG_LEVEL: 'info' });
    const running = server;
    const caFile = path.join(dataDir, 'tls', 'ca.pem');
    const status = async () => {
      const answer = parseAnswer((await exchange(port, fs.readFileSync(caFile), request('GET', '/auth/api/v1/status', []))).raw);
      return typeof answer === 'object' && answer.status === 200;
    };
    await waitFor(async () => fs.existsSync(caFile) && (await status()), 30_000, 'serve to answer').catch((error: Error) => {
      throw new Error(`${error.message}; its output: ${running.output().slice(-2000)}`);
    });
    const ca = fs.readFileSync(caFile);
    // The listening line names the scheme it serves.
    expect(running.output()).toContain(`Server listening at https://127.0.0.1:${port}`);
    expect(running.output()).not.toContain('Server listening at http://');

    const credentials = JSON.parse(
      execFileSync(process.execPath, [path.resolve('dist/cli/index.js'), 'api-client', 'create', '--name', 'hostile', '--role', 'privx-admin', '--data-dir', dataDir], { encoding: 'utf8' }),
    ) as { id: string; secret: string; oauth_client_id: string; oauth_client_secret: string };
    const form = new URLSearchParams({ grant_type: 'password', username: credentials.id, password: credentials.secret }).toString();
    const basic = Buffer.from(`${credentials.oauth_client_id}:${credentials.oauth_client_secret}`).toString('base64');
    const grant = parseAnswer((await exchange(port, ca, request('POST', '/auth/api/v1/oauth/token', [`Authorization: Basic ${basic}`, 'Content-Type: application/x-www-form-urlencoded'], form))).raw);
    if (typeof grant === 'string' || grant.status !== 200) throw new Error(`password grant failed: ${JSON.stringify(grant)}`);
    const token = (JSON.parse(grant.body) as { access_token: string }).access_token;

    const document = parseAnswer((await exchange(port, ca, request('GET', '/api/openapi.json', []))).raw);
    if (typeof document === 'string') throw new Error(document);
    const routes = Object.entries((JSON.parse(document.body) as { paths: Record<string, Record<string, unknown>> }).paths)
      .flatMap(([template, operations]) => Object.keys(operations).map((method) => ({ method: method.toUpperCase(), template })))
      .filter(({ template }) => !SKIPPED.some((pattern) => pattern.test(template)));
    expect(routes.length).toBeGreaterThan(20);

    const cases = routes.flatMap((route) => CORPUS.map((hostile) => ({ route, hostile })));
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      for (let index = next++; index < cases.length; index = next++) {
        const { route, hostile } = cases[index] as (typeof cases)[number];
        const { raw, error } = await exchange(port, ca, hostile.bytes(route.method, route.template, token));
        const answer = parseAnswer(raw);
        if (typeof answer === 'object') statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const problem = typeof answer === 'string' ? `${answer}${error ? ` (${error})` : ''}` : fault(answer);
        if (problem) failures.push(`${route.method} ${route.template} [${hostile.name}]: ${problem}${typeof answer === 'object' ? ` ${answer.body.slice(0, 200)}` : ''}`);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    expect(failures, failures.slice(0, 20).join('\n')).toEqual([]);
    // The token worked: most requests got past authentication to parsing, validation and the routes.
    const count = (predicate: (status: number) => boolean) => [...statuses].filter(([status]) => predicate(status)).reduce((sum, [, n]) => sum + n, 0);
    expect(count((status) => status === 401)).toBeLessThan(cases.length / 4);
    expect(count((status) => status === 400)).toBeGreaterThan(cases.length / 4);
    expect(count((status) => status < 400)).toBeGreaterThan(0);

    // The same process is alive and answers, and nothing it logged was an unexpected error.
    expect(running.child.exitCode).toBeNull();
    expect(await status()).toBe(true);
    expect(running.output()).not.toMatch(/unexpected error|URIError|a log line could not be written/);
    expect(await running.stop()).toBe(0);
  }, 300_000);
});
