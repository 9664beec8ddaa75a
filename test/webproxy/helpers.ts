import { generateSigningKey, signJwt, type GeneratedSigningKey } from '../../src/lib/jwt.js';
import type { WebOptions } from '../../src/lib/service-options.js';
import type { WebPolicy, WebSessionClaims } from '../../src/lib/web-policy.js';
import type { BodyView } from '../../src/webproxy/content-rules.js';
import { IcapParser } from '../../src/webproxy/icap-parser.js';
import type { IcapBody, IcapRequest } from '../../src/webproxy/icap-types.js';

export const NOW = new Date('2030-01-01T12:00:00Z');
export const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);
export const ALL_ON: WebOptions = { file_transfer: true, audio: true, clipboard: true };
export const ALL_OFF: WebOptions = { file_transfer: false, audio: false, clipboard: false };

export const HOST_ID = 'host-1';
export const SESSION_ID = 'session-1';

/** One signing key shared by the unit tests (generating keys is the slow part). */
export const KEY: GeneratedSigningKey = await generateSigningKey();
export const OTHER_KEY: GeneratedSigningKey = await generateSigningKey();

/** A feed document with one WEB host (app.example.test:8080, allowed *.app.example.test and docs.example.test). */
export function samplePolicy(options: { web?: WebOptions; allowedDomains?: string[]; revoked?: string[]; version?: number; hosts?: WebPolicy['hosts'] } = {}): WebPolicy {
  return {
    version: options.version ?? 7,
    generated: NOW.toISOString(),
    session_keys: [{ ...KEY.publicJwk }],
    default_web: { ...ALL_ON },
    hosts: options.hosts ?? [
      {
        id: HOST_ID,
        name: 'web app',
        services: [{ address: 'App.Example.Test', port: 8080 }],
        allowed_domains: options.allowedDomains ?? ['*.app.example.test', 'docs.example.test'],
        principals: [
          { principal: 'alice', web: options.web ?? { ...ALL_ON }, source: 'principal' },
          { principal: 'bob', web: { ...ALL_OFF }, source: 'default' },
        ],
      },
    ],
    revoked_sessions: options.revoked ?? [],
  };
}

/** A web-session token as the authorizer signs it. */
export function sessionToken(overrides: Partial<Record<keyof WebSessionClaims, unknown>> = {}, key: GeneratedSigningKey = KEY): Promise<string> {
  const claims: Record<string, unknown> = {
    iss: 'privgate',
    aud: 'privgate-web-proxy',
    sid: SESSION_ID,
    sub: 'user-1',
    name: 'Alice Example',
    host_id: HOST_ID,
    principal: 'alice',
    allowed_domains: ['snapshot.example.test'],
    web: { ...ALL_ON },
    iat: NOW_SECONDS - 60,
    exp: NOW_SECONDS + 3600,
    ...overrides,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return signJwt(claims, key);
}

/** A BodyView over a buffer. */
export function bodyView(state: BodyView['state'], data: string | Buffer = ''): BodyView {
  const buffer = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  return { state, length: buffer.length, bytes: () => buffer };
}

export const NO_BODY = bodyView('absent');

/** Parses a raw ICAP request the way the connection would and returns the handler's view. */
export function parseIcap(raw: string | Buffer): { request: IcapRequest; body: IcapBody } {
  const parser = new IcapParser();
  const events = parser.feed(typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw);
  const first = events[0];
  if (!first || first.type !== 'message') throw new Error('no ICAP message parsed');
  const chunks: Buffer[] = [];
  let state: IcapBody['state'] = first.message.hasBody ? (first.message.preview === null ? 'unread' : 'preview') : 'absent';
  for (const event of events.slice(1)) {
    if (event.type === 'body') chunks.push(event.data);
    if (event.type === 'preview-end' && event.ieof) state = 'complete';
  }
  const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  return { request: first.message, body: { state, chunks, length, bytes: () => Buffer.concat(chunks, length) } };
}

/** A multipart/form-data body with a text field and optionally a file part. */
export function multipartBody(boundary: string, file: { name: string; content: string } | null, text = 'hello'): string {
  let body = `--${boundary}\r\nContent-Disposition: form-data; name="comment"\r\n\r\n${text}\r\n`;
  if (file) {
    body += `--${boundary}\r\nContent-Disposition: form-data; name="upload"; filename="${file.name}"\r\nContent-Type: application/octet-stream\r\n\r\n${file.content}\r\n`;
  }
  return `${body}--${boundary}--\r\n`;
}

/** Serialises a body as ICAP chunks; `preview` ends the data with `0; ieof` or a plain `0`. */
export function icapChunks(data: string, ending: 'ieof' | 'end' = 'end'): string {
  const head = data.length > 0 ? `${data.length.toString(16)}\r\n${data}\r\n` : '';
  return `${head}${ending === 'ieof' ? '0; ieof' : '0'}\r\n\r\n`;
}
