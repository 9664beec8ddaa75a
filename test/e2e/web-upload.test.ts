/**
 * The upload rule end to end (issue 17 item 7): through Debian's Squid and `privgate web-proxy`,
 * with an account whose `web.file_transfer` is off, a 360 KB text/csv PUT is blocked before the
 * origin sees it, chunked or not, while a small JSON POST passes; with file transfer on, the PUT
 * passes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebStack, type WebStack } from '../helpers/web-stack.js';

let stack: WebStack;
let restricted = '';
let open = '';
const csv = 'id,name,amount\n'.repeat(24_000); // 360,000 bytes

beforeAll(async () => {
  stack = await startWebStack({
    principals: [{ principal: 'open' }, { principal: 'restricted', service_options: { web: { file_transfer: false, audio: true, clipboard: true } } }],
  });
  restricted = await stack.session('restricted');
  open = await stack.session('open');
}, 90_000);

afterAll(async () => {
  if (process.env.PRIVGATE_E2E_LOGS) process.stdout.write(stack?.logs() ?? '');
  await stack?.stop();
});

const url = (pathName: string) => `http://app.example.test:${stack.originPort}${pathName}`;

describe('the upload rule through Squid and privgate web-proxy', () => {
  it('blocks a 360 KB text/csv PUT when file transfer is off; the origin never sees it', async () => {
    expect(csv.length).toBe(360_000);
    const answer = await stack.proxied('PUT', url('/import.csv'), { token: restricted, headers: { 'content-type': 'text/csv' }, body: csv });
    expect(answer.status, stack.logs()).toBe(403);
    expect(answer.headers['x-privgate-block']).toBe('upload_blocked');
    expect(stack.originHits.filter((hit) => hit.path === '/import.csv')).toEqual([]);
  });

  it('blocks the same PUT sent chunked (no Content-Length)', async () => {
    const answer = await stack.proxied('PUT', url('/chunked.csv'), { token: restricted, headers: { 'content-type': 'text/csv' }, body: csv, chunked: true });
    expect(answer.status).toBe(403);
    expect(answer.headers['x-privgate-block']).toBe('upload_blocked');
    expect(stack.originHits.filter((hit) => hit.path === '/chunked.csv')).toEqual([]);
  });

  it('lets a small JSON POST through when file transfer is off', async () => {
    const body = JSON.stringify({ comment: 'x'.repeat(10_000) });
    const answer = await stack.proxied('POST', url('/api/comment'), { token: restricted, headers: { 'content-type': 'application/json' }, body });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ received: body.length });
    expect(stack.originHits.filter((hit) => hit.path === '/api/comment')).toEqual([{ method: 'POST', path: '/api/comment', bytes: body.length }]);
  });

  it('lets the 360 KB PUT through when file transfer is on', async () => {
    const answer = await stack.proxied('PUT', url('/allowed.csv'), { token: open, headers: { 'content-type': 'text/csv' }, body: csv });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ received: 360_000 });
  });

  it('audits the blocked upload with its cause and size', async () => {
    let events: Array<{ outcome: string; details: Record<string, unknown> }> = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      const answer = await stack.api('GET', '/monitor-service/api/v1/auditevents?type=web_file_transfer&limit=50');
      events = (JSON.parse(answer.body) as { items: typeof events }).items;
      if (events.some((event) => event.details.url === url('/import.csv'))) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(events.find((event) => event.details.url === url('/import.csv'))).toMatchObject({
      outcome: 'deny',
      details: { reason: 'upload_blocked', direction: 'upload', cause: 'too_large', content_type: 'text/csv', bytes: 360_000, method: 'PUT' },
    });
  });
});
