import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/backends.js';
import { bearer, createTestApp, envelope, tokenWith, type TestApp } from '../helpers/app.js';

const WHITELISTS = '/host-store/api/v1/whitelists';
const HOSTS = '/host-store/api/v1/hosts';

describe.each(testBackends())('command whitelists on %s', (backend) => {
  let testApp: TestApp;
  let manager: string;
  let managerId: string;
  let viewer: string;
  let usersViewer: string;

  const db = () => testApp.app.context.database.db;
  const inject = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, token = manager) =>
    testApp.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as object }) });
  const rows = () => db().selectFrom('whitelists').selectAll().orderBy('id').execute();
  const create = async (body: Record<string, unknown>): Promise<string> => {
    const response = await inject('POST', WHITELISTS, body);
    expect(response.statusCode, response.body).toBe(201);
    return response.json().id as string;
  };

  beforeAll(async () => {
    testApp = await createTestApp(backend);
    const managed = await tokenWith(testApp, ['hosts-manage']);
    manager = managed.token;
    managerId = managed.credentials.id;
    viewer = (await tokenWith(testApp, ['hosts-view'])).token;
    usersViewer = (await tokenWith(testApp, ['users-view'])).token;
  });
  afterAll(async () => testApp?.close());

  it('create → read (every field) → PUT of the GET answer → read → delete → 404, each write audited', async () => {
    const created = await inject('POST', WHITELISTS, { name: 'crud-wl', comment: 'first', type: 'glob', whitelist_patterns: ['ls -la', 'systemctl status *'], id: '', author: '', created: '' });
    expect(created.statusCode, created.body).toBe(201);
    expect(Object.keys(created.json())).toEqual(['id']);
    const id = created.json().id as string;

    const read = await inject('GET', `${WHITELISTS}/${id}`, undefined, viewer);
    expect(read.statusCode).toBe(200);
    const whitelist = read.json();
    expect(whitelist).toEqual({
      id,
      name: 'crud-wl',
      comment: 'first',
      type: 'glob',
      whitelist_patterns: ['ls -la', 'systemctl status *'],
      author: managerId,
      created: whitelist.created,
      updated: whitelist.created,
      updated_by: managerId,
    });
    expect(new Date(whitelist.created).toISOString()).toBe(whitelist.created);

    const echo = await inject('PUT', `${WHITELISTS}/${id}`, whitelist);
    expect(echo.statusCode, echo.body).toBe(200);
    expect(echo.json()).toEqual({});
    expect((await inject('GET', `${WHITELISTS}/${id}`)).json()).toMatchObject({ ...whitelist, updated: expect.any(String) });

    const put = await inject('PUT', `${WHITELISTS}/${id}`, { ...whitelist, name: 'crud-wl-2', comment: 'second', type: 'regex', whitelist_patterns: ['^git .*', '^docker .*'], author: 'someone', unknown_field: 1 });
    expect(put.statusCode, put.body).toBe(200);
    const after = (await inject('GET', `${WHITELISTS}/${id}`)).json();
    expect(after).toEqual({ ...whitelist, name: 'crud-wl-2', comment: 'second', type: 'regex', whitelist_patterns: ['^git .*', '^docker .*'], updated: after.updated });

    const deleted = await inject('DELETE', `${WHITELISTS}/${id}`);
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual({});
    const gone = await inject('GET', `${WHITELISTS}/${id}`);
    expect(gone.statusCode).toBe(404);
    expect(envelope(gone).error_code).toBe('OBJECT_NOT_FOUND');

    const audit = await db().selectFrom('audit_events').select(['type', 'principal_id']).where('object_id', '=', id).execute();
    expect(audit.map((row) => row.type).sort()).toEqual(['whitelist_created', 'whitelist_deleted', 'whitelist_updated', 'whitelist_updated']);
    expect(audit.every((row) => row.principal_id === managerId)).toBe(true);
  });

  it('type defaults to glob (absent or "" as the Go SDK sends it); null patterns and comment read as empty', async () => {
    const id = await create({ name: 'minimal-wl', type: '', whitelist_patterns: null, comment: null });
    expect((await inject('GET', `${WHITELISTS}/${id}`)).json()).toMatchObject({ name: 'minimal-wl', type: 'glob', comment: '', whitelist_patterns: [] });
  });

  it('bad input is a 400 envelope and changes nothing; unknown ids are 404', async () => {
    const id = await create({ name: 'stable-wl', type: 'regex', whitelist_patterns: ['^ls$'] });
    const before = await rows();
    for (const body of [
      {},
      { name: '' },
      { name: 'bad\u0000name' },
      { name: 'x', type: 'fnmatch' },
      { name: 'x', whitelist_patterns: [''] },
      { name: 'x', whitelist_patterns: ['ls\n-la'] },
      { name: 'x', whitelist_patterns: 'ls' },
      { name: 'x', type: 'regex', whitelist_patterns: ['ok', '(unclosed'] },
      { name: 'x', type: 'regex', whitelist_patterns: ['(a)\\1'] },
      { name: 'x', type: 'regex', whitelist_patterns: ['x'.repeat(2000)] },
      { name: 'x', comment: 5 },
    ]) {
      const created = await inject('POST', WHITELISTS, body);
      expect(created.statusCode, JSON.stringify(body)).toBe(400);
      expect(envelope(created).error_code).toMatch(/^(REQUIRED_VALUE_MISSING|VALUE_|INVALID_REQUEST_DATA|BAD_REQUEST)/);
      const updated = await inject('PUT', `${WHITELISTS}/${id}`, body);
      expect(updated.statusCode, JSON.stringify(body)).toBe(400);
    }
    const invalidPattern = envelope(await inject('POST', WHITELISTS, { name: 'x', type: 'regex', whitelist_patterns: ['ok', '(unclosed'] }));
    expect(invalidPattern).toMatchObject({ error_code: 'VALUE_INCORRECT_FORMAT', property: 'whitelist_patterns[1]' });
    expect(await rows()).toEqual(before);

    const unknown = crypto.randomUUID();
    expect((await inject('GET', `${WHITELISTS}/${unknown}`)).statusCode).toBe(404);
    expect((await inject('PUT', `${WHITELISTS}/${unknown}`, { name: 'nope' })).statusCode).toBe(404);
    expect((await inject('DELETE', `${WHITELISTS}/${unknown}`)).statusCode).toBe(404);
    expect(await rows()).toEqual(before);
  });

  it('a duplicate name → 409 VALUE_DUPLICATE, on create and on rename; nothing changes', async () => {
    const id = await create({ name: 'dup-a' });
    await create({ name: 'dup-b' });
    const before = await rows();
    const again = await inject('POST', WHITELISTS, { name: 'dup-a', type: 'glob' });
    expect(again.statusCode).toBe(409);
    expect(envelope(again)).toMatchObject({ error_code: 'VALUE_DUPLICATE', property: 'name' });
    const rename = await inject('PUT', `${WHITELISTS}/${id}`, { name: 'dup-b' });
    expect(rename.statusCode).toBe(409);
    expect(await rows()).toEqual(before);
  });

  it('list pages and sorts; search takes comma-separated alternatives of whitespace-separated terms in name or comment', async () => {
    await create({ name: 'search-alpha', comment: 'Finance servers' });
    await create({ name: 'search-beta', comment: 'finance and HR' });
    await create({ name: 'search-gamma', comment: 'lab 100%' });
    const total = (await rows()).length;

    const all = (await inject('GET', `${WHITELISTS}?sortkey=name&sortdir=desc`, undefined, viewer)).json();
    const names = all.items.map((item: { name: string }) => item.name);
    expect(names).toEqual([...names].sort().reverse());
    expect(all.count).toBe(total);
    const page = (await inject('GET', `${WHITELISTS}?offset=1&limit=1`)).json();
    expect(page.count).toBe(total);
    expect(page.items.map((item: { name: string }) => item.name)).toEqual([[...names].sort()[1]]);

    const search = async (body: unknown, query = '') => {
      const response = await inject('POST', `${WHITELISTS}/search${query}`, body, viewer);
      expect(response.statusCode, response.body).toBe(200);
      return response.json();
    };
    const namesOf = (result: { items: Array<{ name: string }> }) => result.items.map((item) => item.name).sort();
    expect(namesOf(await search({ keywords: 'FINANCE' }))).toEqual(['search-alpha', 'search-beta']);
    expect(namesOf(await search({ keywords: 'finance hr' }))).toEqual(['search-beta']);
    expect(namesOf(await search({ keywords: 'search-alpha,search-gamma' }))).toEqual(['search-alpha', 'search-gamma']);
    expect(namesOf(await search({ keywords: '100%' }))).toEqual(['search-gamma']);
    expect((await search({ keywords: '_' })).count).toBe(0);
    const limited = await search({ keywords: 'search-' }, '?limit=2&sortkey=name');
    expect(limited.count).toBe(3);
    expect(limited.items.map((item: { name: string }) => item.name)).toEqual(['search-alpha', 'search-beta']);
    const noBody = await testApp.app.inject({ method: 'POST', url: `${WHITELISTS}/search`, headers: { ...bearer(viewer), 'content-type': 'application/json' } });
    expect(noBody.statusCode).toBe(200);
    expect(noBody.json().count).toBe(total);
    expect((await inject('POST', `${WHITELISTS}/search`, { name: 'x' })).statusCode).toBe(400);
    expect((await inject('GET', `${WHITELISTS}?sortkey=comment`)).statusCode).toBe(400);
  });

  it('evaluate: per pattern one MATCH/NO_MATCH per command; per command whether any pattern allows it', async () => {
    const response = await inject(
      'POST',
      `${WHITELISTS}/evaluate`,
      { whitelist: { id: '', name: '', type: 'glob', whitelist_patterns: ['ls -la', 'systemctl status *'], author: '', created: '' }, rshell_variant: 'bash', commands: ['ls -la', 'systemctl  status sshd', 'rm -rf /'] },
      viewer,
    );
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      whitelist_pattern_results: [
        { whitelist_pattern: 'ls -la', status: ['MATCH', 'NO_MATCH', 'NO_MATCH'] },
        { whitelist_pattern: 'systemctl status *', status: ['NO_MATCH', 'MATCH', 'NO_MATCH'] },
      ],
      command_results: [
        { command: 'ls -la', allowed: true },
        { command: 'systemctl  status sshd', allowed: true },
        { command: 'rm -rf /', allowed: false },
      ],
    });

    const regex = await inject('POST', `${WHITELISTS}/evaluate`, { whitelist: { type: 'regex', whitelist_patterns: ['^git (status|log)$'] }, rshell_variant: '', commands: ['git status', 'git push'] });
    expect(regex.json().command_results).toEqual([{ command: 'git status', allowed: true }, { command: 'git push', allowed: false }]);

    // A stored whitelist by id when the request sends no patterns.
    const id = await create({ name: 'eval-stored', type: 'regex', whitelist_patterns: ['uptime'] });
    const stored = await inject('POST', `${WHITELISTS}/evaluate`, { whitelist: { id }, commands: ['uptime', 'reboot'] });
    expect(stored.json()).toEqual({
      whitelist_pattern_results: [{ whitelist_pattern: 'uptime', status: ['MATCH', 'NO_MATCH'] }],
      command_results: [{ command: 'uptime', allowed: true }, { command: 'reboot', allowed: false }],
    });
    expect((await inject('POST', `${WHITELISTS}/evaluate`, { whitelist: { id: crypto.randomUUID() }, commands: ['x'] })).statusCode).toBe(404);

    // No patterns: nothing is allowed; null commands read as none.
    expect((await inject('POST', `${WHITELISTS}/evaluate`, { whitelist: { whitelist_patterns: null }, commands: ['ls'] })).json()).toEqual({ whitelist_pattern_results: [], command_results: [{ command: 'ls', allowed: false }] });
    expect((await inject('POST', `${WHITELISTS}/evaluate`, { whitelist: { whitelist_patterns: ['ls'] }, commands: null })).json()).toEqual({ whitelist_pattern_results: [{ whitelist_pattern: 'ls', status: [] }], command_results: [] });
  });

  it('evaluate refuses invalid patterns and oversized work with 400; hostile patterns answer promptly', async () => {
    const invalid = await inject('POST', `${WHITELISTS}/evaluate`, { whitelist: { type: 'regex', whitelist_patterns: ['(?=lookahead)'] }, commands: ['x'] });
    expect(invalid.statusCode).toBe(400);
    expect(envelope(invalid)).toMatchObject({ error_code: 'VALUE_INCORRECT_FORMAT', property: 'whitelist.whitelist_patterns[0]' });
    expect((await inject('POST', `${WHITELISTS}/evaluate`, { whitelist: {}, commands: ['x'.repeat(5000)] })).statusCode).toBe(400);
    expect((await inject('POST', `${WHITELISTS}/evaluate`, { whitelist: {} })).statusCode).toBe(400);

    const tooMuch = await inject('POST', `${WHITELISTS}/evaluate`, {
      whitelist: { type: 'regex', whitelist_patterns: Array.from({ length: 100 }, (_, index) => `(.*a){60}${index}`) },
      commands: Array.from({ length: 10 }, () => 'a'.repeat(4000)),
    });
    expect(tooMuch.statusCode).toBe(400);
    expect(envelope(tooMuch)).toMatchObject({ error_code: 'VALUE_OUT_OF_BOUNDS' });

    const hostile = await inject('POST', `${WHITELISTS}/evaluate`, { whitelist: { type: 'regex', whitelist_patterns: ['(a+)+$', '(a|aa)*b'] }, commands: [`${'a'.repeat(4000)}!`] });
    expect(hostile.statusCode).toBe(200);
    expect(hostile.json().command_results).toEqual([{ command: `${'a'.repeat(4000)}!`, allowed: false }]);
  });

  it('a whitelist named by a host principal’s command restrictions cannot be deleted (409); once unreferenced it can', async () => {
    const asDefault = await create({ name: 'ref-default', whitelist_patterns: ['ls'] });
    const asGrant = await create({ name: 'ref-grant', whitelist_patterns: ['ps'] });
    const host = await inject('POST', HOSTS, {
      common_name: 'wl-host',
      addresses: ['192.0.2.50'],
      services: [{ service: 'SSH', address: '192.0.2.50', port: 22 }],
      principals: [
        { principal: 'root', command_restrictions: { enabled: true, rshell_variant: 'bash', default_whitelist: { id: asDefault, name: 'ref-default' }, whitelists: [] } },
        { principal: 'ops', command_restrictions: { enabled: true, default_whitelist: {}, whitelists: [{ whitelist: { id: asGrant }, roles: [] }] } },
      ],
    });
    expect(host.statusCode, host.body).toBe(201);
    const hostId = host.json().id as string;

    for (const id of [asDefault, asGrant]) {
      const refused = await inject('DELETE', `${WHITELISTS}/${id}`);
      expect(refused.statusCode).toBe(409);
      expect(envelope(refused)).toMatchObject({ error_code: 'CONFLICT', property: 'id' });
      expect(envelope(refused).error_message).toContain(hostId);
      expect((await inject('GET', `${WHITELISTS}/${id}`)).statusCode).toBe(200);
    }

    // A host that only mentions the id elsewhere (a tag) does not hold it.
    const mention = await inject('POST', HOSTS, { common_name: 'wl-mention', tags: [asGrant] });
    expect(mention.statusCode, mention.body).toBe(201);

    expect((await inject('DELETE', `${HOSTS}/${hostId}`)).statusCode).toBe(200);
    expect((await inject('DELETE', `${WHITELISTS}/${asDefault}`)).statusCode).toBe(200);
    expect((await inject('DELETE', `${WHITELISTS}/${asGrant}`)).statusCode).toBe(200);
  });

  it('permissions: hosts-view reads and evaluates, only hosts-manage writes; others get 403 and nothing changes', async () => {
    const id = await create({ name: 'perm-wl', whitelist_patterns: ['ls'] });
    const before = await rows();
    for (const [method, url, body] of [
      ['POST', WHITELISTS, { name: 'forbidden' }],
      ['PUT', `${WHITELISTS}/${id}`, { name: 'hijacked' }],
      ['DELETE', `${WHITELISTS}/${id}`, undefined],
    ] as const) {
      const response = await inject(method, url, body, viewer);
      expect(response.statusCode, `${method} ${url}`).toBe(403);
      expect(envelope(response).error_code).toBe('PERMISSION_DENIED');
    }
    for (const [method, url, body] of [
      ['GET', WHITELISTS, undefined],
      ['GET', `${WHITELISTS}/${id}`, undefined],
      ['POST', `${WHITELISTS}/search`, {}],
      ['POST', `${WHITELISTS}/evaluate`, { whitelist: { whitelist_patterns: ['ls'] }, commands: ['ls'] }],
    ] as const) {
      expect((await inject(method, url, body, viewer)).statusCode, `${method} ${url}`).toBe(200);
      const denied = await inject(method, url, body, usersViewer);
      expect(denied.statusCode, `${method} ${url}`).toBe(403);
    }
    expect((await testApp.app.inject({ method: 'GET', url: WHITELISTS })).statusCode).toBe(401);
    expect(await rows()).toEqual(before);
  });
});
