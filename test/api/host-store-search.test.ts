import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/time.js';
import { listWebHosts } from '../../src/services/host-store/repository.js';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';

const HOSTS = '/host-store/api/v1/hosts';
const SEARCH = `${HOSTS}/search`;
const TOTAL = 25;

interface Listed {
  count: number;
  items: Array<{ id: string; name: string; common_name: string; tags: string[]; services: Array<{ service: string }> }>;
}

const pad = (index: number) => String(index).padStart(2, '0');

/**
 * host-00 … host-24: created one second apart; common names sort in the reverse order; every
 * third host has a WEB service (the others SSH), even ones are tagged "even", multiples of five
 * "five"; addresses 10.1.0.N; external ids EXT-N.
 */
function hostNumber(index: number): Record<string, unknown> {
  const web = index % 3 === 0;
  return {
    name: `host-${pad(index)}`,
    common_name: `cn-${pad(TOTAL - 1 - index)}.example.com`,
    external_id: `EXT-${pad(index)}`,
    addresses: [`10.1.0.${index}`],
    services: [web ? { service: 'WEB', address: `app${pad(index)}.intra.example.com`, port: 443, allowed_domains: [`*.app${pad(index)}.example.com`] } : { service: 'SSH', address: `10.1.0.${index}`, port: 22 }],
    principals: [{ principal: 'root' }, ...(index === 3 ? [{ principal: 'webuser', service_options: { web: { file_transfer: false, audio: true, clipboard: false } } }] : [])],
    tags: [...(index % 2 === 0 ? ['even'] : []), ...(index % 5 === 0 ? ['five'] : []), 'all'],
  };
}

describe.each(testBackends())('host list and search on %s', (backend) => {
  let testApp: TestApp;
  let token: string;
  const ids = new Map<string, string>();

  const list = async (query = ''): Promise<Listed> => {
    const response = await testApp.app.inject({ method: 'GET', url: `${HOSTS}${query}`, headers: bearer(token) });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Listed;
  };
  const search = async (body: unknown, query = ''): Promise<Listed> => {
    const response = await testApp.app.inject({ method: 'POST', url: `${SEARCH}${query}`, headers: bearer(token), payload: body as Record<string, unknown> });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Listed;
  };
  const names = (listed: Listed) => listed.items.map((item) => item.name);
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, offset) => `host-${pad(from + offset)}`);

  beforeAll(async () => {
    const clock = new ManualClock(new Date('2031-05-01T00:00:00.000Z'));
    testApp = await createTestApp(backend, { clock });
    token = (await tokenWith(testApp, ['hosts-manage'])).token;
    // Created out of name order so that name and created orders differ.
    const order = Array.from({ length: TOTAL }, (_, index) => (index * 7) % TOTAL);
    for (const index of order) {
      clock.advance(1);
      const response = await testApp.app.inject({ method: 'POST', url: HOSTS, headers: bearer(token), payload: hostNumber(index) });
      expect(response.statusCode, response.body).toBe(201);
      ids.set(`host-${pad(index)}`, (response.json() as { id: string }).id);
    }
  });
  afterAll(async () => testApp?.close());

  describe('list', () => {
    it('defaults to name ascending, all hosts, with the total count', async () => {
      const listed = await list();
      expect(listed.count).toBe(TOTAL);
      expect(names(listed)).toEqual(range(0, TOTAL - 1));
    });

    it('pages with offset and limit', async () => {
      expect(names(await list('?offset=5&limit=3'))).toEqual(range(5, 7));
      const last = await list('?offset=20&limit=10');
      expect(last.count).toBe(TOTAL);
      expect(names(last)).toEqual(range(20, 24));
      expect((await list('?offset=100')).items).toEqual([]);
      const none = await list('?limit=0');
      expect(none).toEqual({ count: TOTAL, items: [] });
    });

    it('sorts by name descending', async () => {
      expect(names(await list('?sortdir=desc&limit=3'))).toEqual(['host-24', 'host-23', 'host-22']);
      expect(names(await list('?sortdir=DESC&limit=2&offset=1'))).toEqual(['host-23', 'host-22']);
    });

    it('sorts by common_name', async () => {
      // common names run in the reverse order of names.
      expect(names(await list('?sortkey=common_name&limit=3'))).toEqual(['host-24', 'host-23', 'host-22']);
      expect(names(await list('?sortkey=common_name&sortdir=desc&limit=2'))).toEqual(['host-00', 'host-01']);
    });

    it('sorts by created and updated', async () => {
      const creationOrder = Array.from({ length: TOTAL }, (_, index) => `host-${pad((index * 7) % TOTAL)}`);
      expect(names(await list('?sortkey=created'))).toEqual(creationOrder);
      expect(names(await list('?sortkey=created&sortdir=desc&limit=3'))).toEqual(creationOrder.slice(-3).reverse());
      expect(names(await list('?sortkey=updated&limit=3'))).toEqual(creationOrder.slice(0, 3));
    });

    it('rejects a limit above 1000, an unknown sort key and a negative offset', async () => {
      for (const [query, code, property] of [
        ['?limit=1001', 'VALUE_OUT_OF_BOUNDS', 'limit'],
        ['?sortkey=secret', 'INVALID_REQUEST_DATA', 'sortkey'],
        ['?offset=-1', 'VALUE_OUT_OF_BOUNDS', 'offset'],
        ['?sortdir=sideways', 'INVALID_REQUEST_DATA', 'sortdir'],
      ] as const) {
        const response = await testApp.app.inject({ method: 'GET', url: `${HOSTS}${query}`, headers: bearer(token) });
        expect(response.statusCode, query).toBe(400);
        expect(envelope(response)).toMatchObject({ error_code: code, property });
      }
      expect((await list('?limit=1000')).items).toHaveLength(TOTAL);
    });
  });

  describe('search', () => {
    it('an empty body (or none) lists everything', async () => {
      expect((await search({})).count).toBe(TOTAL);
      const response = await testApp.app.inject({ method: 'POST', url: SEARCH, headers: { ...bearer(token), 'content-type': 'application/json' }, payload: '' });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json().count).toBe(TOTAL);
    });

    it('keywords match the name as a case-insensitive substring', async () => {
      const found = await search({ keywords: 'HOST-1' });
      expect(found.count).toBe(10);
      expect(names(found)).toEqual(range(10, 19));
    });

    it('keywords match common_name, addresses and external_id', async () => {
      expect(names(await search({ keywords: 'cn-24.EXAMPLE' }))).toEqual(['host-00']);
      expect(names(await search({ keywords: '10.1.0.17' }))).toEqual(['host-17']);
      expect(names(await search({ keywords: 'ext-2' }))).toEqual(range(20, 24));
    });

    it('short keywords (under three characters) still match', async () => {
      expect(names(await search({ keywords: '-2' }))).toEqual(expect.arrayContaining(range(20, 24)));
      // "23" is in host-23's name and in host-01's common name (cn-23).
      expect(names(await search({ keywords: '23' }))).toEqual(['host-01', 'host-23']);
    });

    it('several keywords must all match', async () => {
      expect(names(await search({ keywords: 'host-1 ext-15' }))).toEqual(['host-15']);
      // cn-1x belongs to host-05 … host-14.
      expect(names(await search({ keywords: 'host-1,cn-1' }))).toEqual(range(10, 14));
    });

    it('LIKE wildcards in keywords are literal characters', async () => {
      expect((await search({ keywords: 'host_1' })).count).toBe(0);
      expect((await search({ keywords: 'host%' })).count).toBe(0);
      expect((await search({ keywords: 'nothing-like-this' })).count).toBe(0);
    });

    it('service filters through the services', async () => {
      const web = await search({ service: 'WEB' });
      expect(names(web)).toEqual(['host-00', 'host-03', 'host-06', 'host-09', 'host-12', 'host-15', 'host-18', 'host-21', 'host-24']);
      expect(web.items.every((item) => item.services.some((service) => service.service === 'WEB'))).toBe(true);
      expect((await search({ service: 'SSH' })).count).toBe(TOTAL - 9);
      expect((await search({ service: 'DB' })).count).toBe(0);
      expect((await search({ service: ['WEB', 'SSH'] })).count).toBe(TOTAL);
    });

    it('tags must all be present', async () => {
      expect((await search({ tags: ['even'] })).count).toBe(13);
      expect(names(await search({ tags: ['even', 'five'] }))).toEqual(['host-00', 'host-10', 'host-20']);
      expect((await search({ tags: ['all'] })).count).toBe(TOTAL);
      expect((await search({ tags: ['nope'] })).count).toBe(0);
      expect((await search({ tags: null })).count).toBe(TOTAL);
    });

    it('filters combine, and page and sort like the list', async () => {
      const found = await search({ keywords: 'host', service: 'WEB', tags: ['even'] }, '?sortdir=desc&limit=2&offset=1');
      // WEB and even: 00, 06, 12, 18, 24 → descending 24, 18, 12, 06, 00 → page [18, 12].
      expect(found.count).toBe(5);
      expect(names(found)).toEqual(['host-18', 'host-12']);
    });

    it('rejects unknown filters and bad values', async () => {
      for (const [body, code, property] of [
        [{ no_such_filter: ['x'] }, 'INVALID_REQUEST_DATA', 'no_such_filter'],
        [{ service: 'FTP' }, 'INVALID_REQUEST_DATA', 'service'],
        [{ keywords: 5 }, 'VALUE_INCORRECT_TYPE', 'keywords'],
        [{ tags: 'even' }, 'VALUE_INCORRECT_TYPE', 'tags'],
      ] as const) {
        const response = await testApp.app.inject({ method: 'POST', url: SEARCH, headers: bearer(token), payload: body });
        expect(response.statusCode, JSON.stringify(body)).toBe(400);
        expect(envelope(response)).toMatchObject({ error_code: code, property });
      }
    });

    it('follows updates and deletes', async () => {
      const id = ids.get('host-07') as string;
      const renamed = { ...hostNumber(7), name: 'renamed-07', tags: ['moved'], services: [{ service: 'DB', address: 'db.example.com', port: 5432 }] };
      expect((await testApp.app.inject({ method: 'PUT', url: `${HOSTS}/${id}`, headers: bearer(token), payload: renamed })).statusCode).toBe(200);
      expect(names(await search({ keywords: 'renamed' }))).toEqual(['renamed-07']);
      expect(names(await search({ service: 'DB' }))).toEqual(['renamed-07']);
      expect(names(await search({ tags: ['moved'] }))).toEqual(['renamed-07']);
      expect(names(await search({ keywords: 'host-07' }))).toEqual([]);

      expect((await testApp.app.inject({ method: 'DELETE', url: `${HOSTS}/${id}`, headers: bearer(token) })).statusCode).toBe(200);
      expect((await search({ keywords: 'renamed' })).count).toBe(0);
      expect((await list()).count).toBe(TOTAL - 1);

      // Put it back for the other tests.
      const response = await testApp.app.inject({ method: 'POST', url: HOSTS, headers: bearer(token), payload: hostNumber(7) });
      ids.set('host-07', (response.json() as { id: string }).id);
      expect((await list()).count).toBe(TOTAL);
    });
  });

  describe('listWebHosts (for the policy feed)', () => {
    it('answers every enabled host with a WEB service, with only its WEB services and its principals', async () => {
      const hosts = await listWebHosts(testApp.app.context.database.db);
      expect(hosts.map((host) => host.name).sort()).toEqual(['host-00', 'host-03', 'host-06', 'host-09', 'host-12', 'host-15', 'host-18', 'host-21', 'host-24']);
      const host3 = hosts.find((host) => host.name === 'host-03');
      expect(host3).toEqual({
        id: ids.get('host-03'),
        name: 'host-03',
        services: [{ address: 'app03.intra.example.com', port: 443, allowed_domains: ['*.app03.example.com'] }],
        principals: [{ principal: 'root' }, { principal: 'webuser', service_options: { web: { file_transfer: false, audio: true, clipboard: false } } }],
      });
    });

    it('leaves out disabled hosts (TRUE and BULK), and uses common_name when a host has no name', async () => {
      const created: string[] = [];
      for (const host of [
        { name: 'off', disabled: 'TRUE', services: [{ service: 'WEB', address: 'off.example.com', port: 443 }] },
        { name: 'bulk', disabled: 'BULK', services: [{ service: 'WEB', address: 'bulk.example.com', port: 443 }] },
        { common_name: 'nameless.example.com', services: [{ service: 'SSH', address: 'nameless.example.com', port: 22 }, { service: 'WEB', address: 'nameless.example.com', port: 8080 }] },
      ]) {
        const response = await testApp.app.inject({ method: 'POST', url: HOSTS, headers: bearer(token), payload: host });
        created.push((response.json() as { id: string }).id);
      }
      try {
        const hosts = await listWebHosts(testApp.app.context.database.db);
        expect(hosts.map((host) => host.name)).not.toContain('off');
        expect(hosts.map((host) => host.name)).not.toContain('bulk');
        expect(hosts.find((host) => host.id === created[2])).toEqual({
          id: created[2],
          name: 'nameless.example.com',
          services: [{ address: 'nameless.example.com', port: 8080, allowed_domains: [] }],
          principals: [],
        });
      } finally {
        for (const id of created) await testApp.app.inject({ method: 'DELETE', url: `${HOSTS}/${id}`, headers: bearer(token) });
      }
    });
  });
});
