import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import type { Command } from 'commander';

/** The public OAuth client of human users (PrivX's web UI and Go SDK use it) and its redirect URI. */
const CLIENT_ID = 'privx-ui';
const REDIRECT_URI = '/privx/oauth-callback';

interface TokenFlags {
  user: string;
  url: string;
  ca?: string;
  passwordStdin?: boolean;
  json?: boolean;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(base: URL, ca: string | undefined, method: string, pathAndQuery: string, body?: { type: string; text: string }): Promise<Answer> {
  const url = new URL(pathAndQuery, base);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      url,
      { method, agent: false, ...(ca !== undefined && url.protocol === 'https:' ? { ca } : {}), headers: body ? { 'content-type': body.type, 'content-length': Buffer.byteLength(body.text) } : {} },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
      },
    );
    request.setTimeout(30_000, () => request.destroy(new Error(`no answer from ${url.origin} within 30 s`)));
    request.on('error', reject);
    request.end(body?.text);
  });
}

/** The PrivX error message of an answer, or its status. */
function failure(step: string, answer: Answer): Error {
  let detail = `HTTP ${answer.status}`;
  try {
    const parsed = JSON.parse(answer.body) as { error_code?: string; error_message?: string };
    if (parsed.error_code) detail = `${answer.status} ${parsed.error_code}: ${parsed.error_message ?? ''}`;
  } catch {
    // not JSON
  }
  return new Error(`${step} failed: ${detail}`);
}

/** The password: from standard input when it is not a terminal (first line), else a prompt without echo. */
async function readPassword(user: string, fromStdin: boolean): Promise<string> {
  const stdin = process.stdin;
  if (fromStdin || !stdin.isTTY) {
    let text = '';
    for await (const chunk of stdin) text += String(chunk);
    return text.replace(/\r?\n$/, '');
  }
  process.stderr.write(`password for ${user}: `);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (data: string) => {
      for (const character of data) {
        if (character === '\r' || character === '\n' || character === '\u0004') return done();
        if (character === '\u0003') return done(new Error('cancelled'));
        if (character === '\u007f' || character === '\b') typed = typed.slice(0, -1);
        else typed += character;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * Logs a user in with the authorization-code flow and PKCE (S256) of the public `privx-ui` client,
 * exactly as a browser or the PrivX Go SDK does: authorize → login with the password → exchange
 * the code. Answers the token response.
 */
export async function userToken(options: { url: string; ca: string | undefined; user: string; password: string }): Promise<Record<string, unknown>> {
  const base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
  const verifier = crypto.randomBytes(48).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const state = crypto.randomBytes(16).toString('base64url');
  const query = new URLSearchParams({ client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, response_type: 'code', state, code_challenge: challenge, code_challenge_method: 'S256' });
  const authorize = await send(base, options.ca, 'GET', `auth/api/v1/oauth/authorize?${query}`);
  const location = authorize.headers.location;
  const loginToken = authorize.status === 307 && location ? new URL(location, base).searchParams.get('token') : null;
  if (!loginToken) throw failure('authorize', authorize);
  const login = await send(base, options.ca, 'POST', 'auth/api/v1/login', { type: 'application/json', text: JSON.stringify({ username: options.user, password: options.password, token: loginToken }) });
  if (login.status !== 200) throw failure('login', login);
  const { code, state: returned } = JSON.parse(login.body) as { code: string; state: string };
  if (returned !== state) throw new Error('login failed: the server answered another state');
  const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, client_id: CLIENT_ID, code_verifier: verifier });
  const token = await send(base, options.ca, 'POST', 'auth/api/v1/oauth/token', { type: 'application/x-www-form-urlencoded', text: form.toString() });
  if (token.status !== 200) throw failure('token', token);
  return JSON.parse(token.body) as Record<string, unknown>;
}

/** `privgate token`: a user's access token from the running server (for curl and scripts). */
export function registerTokenCommand(program: Command): void {
  program
    .command('token')
    .description("log a user in (authorization code + PKCE, client privx-ui) and print an access token; the password is read from standard input or prompted for")
    .requiredOption('--user <name>', 'user name, e.g. admin')
    .option('--url <url>', 'the server (env PRIVGATE_PUBLIC_URL)', process.env.PRIVGATE_PUBLIC_URL || 'https://127.0.0.1:8443')
    .option('--ca <file>', "PEM CA the server's certificate is checked against (default ./data/tls/ca.pem when present, else the system's)")
    .option('--password-stdin', 'read the password from standard input even when it is a terminal')
    .option('--json', 'print the whole token response (access_token, refresh_token, expires_in, …) as JSON')
    .action(async (flags: TokenFlags) => {
      const defaultCa = path.resolve('data', 'tls', 'ca.pem');
      const caFile = flags.ca ?? (fs.existsSync(defaultCa) ? defaultCa : undefined);
      let ca: string | undefined;
      if (caFile !== undefined) {
        try {
          ca = fs.readFileSync(caFile, 'utf8');
        } catch (error) {
          throw new Error(`cannot read --ca ${caFile}: ${(error as Error).message}`);
        }
      }
      const password = await readPassword(flags.user, flags.passwordStdin === true);
      const answer = await userToken({ url: flags.url, ca, user: flags.user, password });
      process.stdout.write(flags.json ? `${JSON.stringify(answer)}\n` : `${String(answer.access_token)}\n`);
    });
}
