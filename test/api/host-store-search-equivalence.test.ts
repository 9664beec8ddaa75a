import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/time.js';
import type { ServiceType } from '../../src/services/host-store/schemas.js';
import { SORT_MATCHES_MAX, listHosts, type HostFilter } from '../../src/services/host-store/search-repository.js';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, tokenWith, type TestApp } from '../helpers/app.js';

const HOSTS = '/host-store/api/v1/hosts';
const SEARCH = `${HOSTS}/search`;
const TOTAL = 40;

interface Stored {
  id: string;
  name: string;
  common_name: string;
  external_id: string;
  addresses: string[];
  services: string[];
  tags: string[];
  created: string;
  updated: string;
}

interface Listed {
  count: number;
  items: Array<{ id: string }>;
}

interface Filter {
  keywords?: string;
  service?: string[];
  tags?: string[];
}

/**
 * Host number `index`: names repeat every 15 hosts (ties broken by id), every 13th has no name,
 * every third has SSH and WEB, the others SSH or WEB; parity, "five", "seven" and "all" tags;
 * every fourth an external id.
 */
function hostNumber(index: number): Record<string, unknown> {
  const services =
    index % 3 === 0
      ? [
          { service: 'SSH', address: `10.2.${index % 3}.${index}`, port: 22 },
          { service: 'WEB', address: `app${index}.example.org`, port: 443 },
        ]
      : index % 3 === 1
        ? [{ service: 'SSH', address: `10.2.${index % 3}.${index}`, port: 22 }]
        : [{ service: 'WEB', address: `web${index}.example.org`, port: 8443 }];
  return {
    ...(index % 13 === 0 ? {} : { name: `srv-${String(index % 15).padStart(2, '0')}` }),
    common_name: `cn-${String((index * 7) % TOTAL).padStart(2, '0')}.Example.org`,
    ...(index % 4 === 0 ? { external_id: `EXT-${index}` } : {}),
    addresses: [`10.2.${index % 3}.${index}`],
    services,
    principals: [{ principal: 'root' }],
    tags: [index % 2 === 0 ? 'even' : 'odd', ...(index % 5 === 0 ? ['five'] : []), ...(index % 7 === 0 ? ['seven'] : []), 'all'],
  };
}

/** What the search promises, computed in JavaScript from the stored hosts. */
function expected(hosts: readonly Stored[], filter: Filter, sortkey: 'name' | 'common_name' | 'created' | 'updated', descending: boolean): string[] {
  const terms = [
    ...new Set(
      (filter.keywords ?? '')
        .toLowerCase()
        .split(/[\s,]+/)
        .filter((term) => term.length > 0),
    ),
  ];
  const matching = hosts.filter((host) => {
    const values = [host.name, host.common_name, host.external_id, ...host.addresses].filter((value) => value.length > 0).map((value) => value.toLowerCase());
    if (!terms.every((term) => values.some((value) => value.includes(term)))) return false;
    if (filter.service && filter.service.length > 0 && !host.services.some((service) => filter.service?.includes(service))) return false;
    return (filter.tags ?? []).every((tag) => host.tags.includes(tag));
  });
  const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  matching.sort((a, b) => compare(a[sortkey], b[sortkey]) || compare(a.id, b.id));
  if (descending) matching.reverse();
  return matching.map((host) => host.id);
}

/** The filter as the search route hands it to listHosts. */
function hostFilter(filter: Filter): HostFilter {
  return { keywords: filter.keywords, services: (filter.service ?? []) as ServiceType[], tags: filter.tags ?? [] };
}

/** Records whether any query run through the returned plugin has a WITH clause (the sorted-matches plan's CTE). */
function cteRecorder(): { plugin: KyselyPlugin; sawCte: () => boolean } {
  let saw = false;
  return {
    plugin: {
      transformQuery: (args) => {
        if (args.node.kind === 'SelectQueryNode' && args.node.with !== undefined) saw = true;
        return args.node;
      },
      transformResult: async (args) => args.result,
    },
    sawCte: () => saw,
  };
}

const FILTERS: Filter[] = [
  {},
  { keywords: 'srv-1' },
  { keywords: 'SRV' },
  { keywords: 'cn-1 example' },
  { keywords: '10.2.1.' },
  { keywords: 'ext-' },
  { keywords: '1' },
  { keywords: 'v-0' },
  { keywords: 'srv' },
  { keywords: 'no-host-has-this' },
  { keywords: 'xq' },
  { service: ['WEB'] },
  { service: ['SSH', 'WEB'] },
  { service: ['WEB', 'WEB', 'RDP'] },
  { service: ['DB'] },
  { tags: ['seven'] },
  { tags: ['odd', 'five'] },
  { tags: ['all', 'all'] },
  { tags: ['even', 'nope'] },
  { service: ['WEB'], tags: ['odd'] },
  { service: ['SSH'], tags: ['seven'], keywords: 'srv' },
  { service: ['WEB'], keywords: 'example.org' },
  { tags: ['all'], keywords: 'srv-0' },
  { keywords: 'srv-1 .1.' },
  { keywords: 'cn-2,10.2.2', tags: ['even'] },
  { keywords: 'org', service: ['SSH'], tags: ['five', 'all'] },
];

describe.each(testBackends())('host search answers exactly the matching hosts, in order, on %s', (backend) => {
  let testApp: TestApp;
  let token: string;
  const hosts: Stored[] = [];

  const search = async (filter: Filter, query: string): Promise<Listed> => {
    const response = await testApp.app.inject({ method: 'POST', url: `${SEARCH}${query}`, headers: bearer(token), payload: filter as Record<string, unknown> });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Listed;
  };

  beforeAll(async () => {
    const clock = new ManualClock(new Date('2032-02-01T00:00:00.000Z'));
    testApp = await createTestApp(backend, { clock });
    token = (await tokenWith(testApp, ['hosts-manage'])).token;
    for (let index = 0; index < TOTAL; index += 1) {
      // Three hosts per second: equal created/updated times are ordered by id.
      if (index % 3 === 0) clock.advance(1);
      const document = hostNumber(index);
      const response = await testApp.app.inject({ method: 'POST', url: HOSTS, headers: bearer(token), payload: document });
      expect(response.statusCode, response.body).toBe(201);
      const read = (await testApp.app.inject({ method: 'GET', url: `${HOSTS}/${(response.json() as { id: string }).id}`, headers: bearer(token) })).json() as Record<string, unknown>;
      hosts.push({
        id: read.id as string,
        name: (read.name as string | undefined) ?? '',
        common_name: (read.common_name as string | undefined) ?? '',
        external_id: (read.external_id as string | undefined) ?? '',
        addresses: read.addresses as string[],
        services: (read.services as Array<{ service: string }>).map((service) => service.service),
        tags: read.tags as string[],
        created: read.created as string,
        updated: read.updated as string,
      });
    }
  }, 60_000);
  afterAll(async () => testApp?.close());

  it('every filter combination counts and orders like the reference, for each sort key and direction', async () => {
    for (const filter of FILTERS) {
      for (const sortkey of ['name', 'common_name', 'created', 'updated'] as const) {
        for (const descending of [false, true]) {
          const want = expected(hosts, filter, sortkey, descending);
          const found = await search(filter, `?sortkey=${sortkey}&sortdir=${descending ? 'desc' : 'asc'}&limit=1000`);
          const label = `${JSON.stringify(filter)} by ${sortkey} ${descending ? 'desc' : 'asc'}`;
          expect(found.count, label).toBe(want.length);
          expect(
            found.items.map((item) => item.id),
            label,
          ).toEqual(want);
        }
      }
    }
  });

  it('a filtered page walked along the sort index instead of sorting the matches gives the same pages', async () => {
    // Small match sets are sorted; large ones (above sortMatchesMax) walk the sort index. Forcing
    // the walk here checks the second way against the reference too.
    const db = testApp.app.context.database.db;
    for (const filter of FILTERS) {
      for (const sortkey of ['name', 'updated'] as const) {
        for (const descending of [false, true]) {
          const want = expected(hosts, filter, sortkey, descending);
          const label = `${JSON.stringify(filter)} by ${sortkey} ${descending ? 'desc' : 'asc'}, index walk`;
          const found = await listHosts(db, hostFilter(filter), { offset: 1, limit: 1000, sortkey, descending }, { sortMatchesMax: 0 });
          expect(found.count, label).toBe(want.length);
          expect(
            found.items.map((item) => item.id),
            label,
          ).toEqual(want.slice(1));
        }
      }
    }
  });

  it('sortMatchesMax picks the plan: by default a small match set is sorted, at 0 or below the count the sort index is walked', async () => {
    expect(SORT_MATCHES_MAX).toBe(20_000);
    const filter: Filter = { tags: ['odd'] };
    const want = expected(hosts, filter, 'name', false);
    expect(want.length).toBe(TOTAL / 2);
    const page = { offset: 0, limit: 1000, sortkey: 'name', descending: false } as const;
    for (const [options, sorts] of [
      [undefined, true],
      [{}, true],
      [{ sortMatchesMax: want.length }, true],
      [{ sortMatchesMax: want.length - 1 }, false],
      [{ sortMatchesMax: 0 }, false],
    ] as const) {
      const recorder = cteRecorder();
      const db = testApp.app.context.database.db.withPlugin(recorder.plugin);
      const found = await listHosts(db, hostFilter(filter), page, options);
      const label = `options ${JSON.stringify(options)}`;
      expect(recorder.sawCte(), label).toBe(sorts);
      expect(found.count, label).toBe(want.length);
      expect(
        found.items.map((item) => item.id),
        label,
      ).toEqual(want);
    }
  });

  it('offset and limit cut the same ordered list, and an offset past the end answers the count with no items', async () => {
    for (const filter of FILTERS) {
      for (const sortkey of ['name', 'created'] as const) {
        const want = expected(hosts, filter, sortkey, false);
        for (const [offset, limit] of [
          [0, 1],
          [1, 3],
          [5, 4],
          [want.length - 1, 2],
          [want.length, 5],
          [want.length + 10, 5],
          [0, 0],
        ] as const) {
          if (offset < 0) continue;
          const found = await search(filter, `?sortkey=${sortkey}&offset=${offset}&limit=${limit}`);
          const label = `${JSON.stringify(filter)} by ${sortkey} offset ${offset} limit ${limit}`;
          expect(found.count, label).toBe(want.length);
          expect(
            found.items.map((item) => item.id),
            label,
          ).toEqual(want.slice(offset, offset + limit));
        }
      }
    }
  });

  it('the unfiltered list pages deep offsets like the reference', async () => {
    const want = expected(hosts, {}, 'name', true);
    for (const offset of [0, 17, TOTAL - 3, TOTAL]) {
      const response = await testApp.app.inject({ method: 'GET', url: `${HOSTS}?sortdir=desc&offset=${offset}&limit=5`, headers: bearer(token) });
      const listed = response.json() as Listed;
      expect(listed.count).toBe(TOTAL);
      expect(listed.items.map((item) => item.id)).toEqual(want.slice(offset, offset + 5));
    }
  });
});
