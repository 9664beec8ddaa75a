import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, tokenWith, type TestApp } from '../helpers/app.js';
import { testBackends } from '../helpers/backends.js';
import { loadConfig, ConfigError } from '../../src/config.js';
import { createCertificateAuthority, issueServerCertificate } from '../../src/lib/pki.js';
import type { AuditEventView } from '../../src/services/monitor-service/repository.js';
import { escapeSdValue, headerField, jsonLine, octetCountedFrame, syslogMessage } from '../../src/services/monitor-service/export/format.js';
import { parseSyslogUrl } from '../../src/services/monitor-service/export/syslog-sink.js';

const EVENTS = '/monitor-service/api/v1/auditevents';

const sample: AuditEventView = {
  service_id: 'control-plane',
  service_name: 'role-store',
  event_id: '1201',
  event_name: 'ROLE_CREATED',
  message: { type: 'role_created', outcome: 'success', name: 'ops "quoted" \\ back] räksmörgås' },
  id: '3f0c7a8e-0000-4000-8000-000000000001',
  created: '2026-12-04T16:40:00.123Z',
  type: 'role_created',
  outcome: 'success',
  principal_type: 'user',
  principal_id: 'u-1',
  principal_name: 'ad"m]in\\',
  object_type: 'role',
  object_id: 'r-1',
  details: { name: 'ops "quoted" \\ back] räksmörgås' },
  reporter: 'control-plane',
};

/** RFC 5424 with one SD element: PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG. */
const SYSLOG_LINE = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[(?:[^\]"\\]|"(?:[^"\\]|\\["\\\]])*")*\]) \uFEFF([\s\S]*)$/;

function parsed(message: string) {
  const match = SYSLOG_LINE.exec(message);
  if (!match) throw new Error(`not RFC 5424: ${message}`);
  return { pri: Number(match[1]), timestamp: match[2], hostname: match[3], appName: match[4], procid: match[5], msgid: match[6], sd: match[7]!, msg: match[8]! };
}

describe('audit export formats', () => {
  it('an RFC 5424 message: authpriv notice, version 1, the event time, privgate, MSGID the event name, MSG the event as JSON', () => {
    const message = syslogMessage(sample, { hostname: 'node-1', procid: '4242' });
    const fields = parsed(message);
    expect(fields).toMatchObject({ pri: 10 * 8 + 5, timestamp: sample.created, hostname: 'node-1', appName: 'privgate', procid: '4242', msgid: 'ROLE_CREATED' });
    expect(JSON.parse(fields.msg)).toEqual(sample);
    expect(fields.sd.startsWith('[privgate@32473 id="3f0c7a8e-0000-4000-8000-000000000001" event_id="1201" service_id="control-plane"')).toBe(true);
    expect(fields.sd).toContain(' principal_name="ad\\"m\\]in\\\\"');
    expect(fields.sd).toContain(' outcome="success"');
  });

  it('a failed or denied action is a warning', () => {
    expect(parsed(syslogMessage({ ...sample, outcome: 'failure' }, { hostname: 'h', procid: '1' })).pri).toBe(84);
    expect(parsed(syslogMessage({ ...sample, outcome: 'deny' }, { hostname: 'h', procid: '1' })).pri).toBe(84);
    expect(parsed(syslogMessage({ ...sample, outcome: 'allow' }, { hostname: 'h', procid: '1' })).pri).toBe(85);
  });

  it('structured-data values escape ", \\ and ]; header fields are printable ASCII or -', () => {
    expect(escapeSdValue('a"b\\c]d[e=f')).toBe('a\\"b\\\\c\\]d[e=f');
    expect(headerField('', 32)).toBe('-');
    expect(headerField('host name\u00e4', 255)).toBe('host_name_');
    expect(headerField('X'.repeat(40), 32)).toBe('X'.repeat(32));
  });

  it('octet counting counts bytes, not characters', () => {
    const frame = octetCountedFrame('ä€x');
    expect(frame.toString('utf8')).toBe('6 ä€x');
    const message = syslogMessage(sample, { hostname: 'h', procid: '1' });
    const counted = octetCountedFrame(message);
    const space = counted.indexOf(0x20);
    expect(Number(counted.subarray(0, space).toString('ascii'))).toBe(counted.length - space - 1);
  });

  it('a JSON line is the event and a newline', () => {
    expect(jsonLine(sample).endsWith('}\n')).toBe(true);
    expect(JSON.parse(jsonLine(sample))).toEqual(sample);
  });

  it('the options are checked when the config is loaded', () => {
    const load = (env: Record<string, string>) => loadConfig({ dataDir: os.tmpdir() }, env).auditExport;
    expect(load({})).toEqual({ jsonlFile: undefined, syslogUrl: undefined, syslogCaFile: undefined });
    expect(load({ PRIVGATE_AUDIT_SYSLOG_URL: 'tls://siem.example:6514', PRIVGATE_AUDIT_SYSLOG_CA: 'ca.pem' }).syslogCaFile).toBe(path.resolve('ca.pem'));
    for (const bad of ['udp://siem:514', 'tcp://', 'siem:514', 'tcp://user:pw@siem:514', 'tcp://siem:514/x', 'tcp://siem:70000']) {
      expect(() => load({ PRIVGATE_AUDIT_SYSLOG_URL: bad })).toThrow(ConfigError);
    }
    expect(() => load({ PRIVGATE_AUDIT_SYSLOG_URL: 'tcp://siem:514', PRIVGATE_AUDIT_SYSLOG_CA: 'ca.pem' })).toThrow(ConfigError);
    expect(() => load({ PRIVGATE_AUDIT_SYSLOG_CA: 'ca.pem' })).toThrow(ConfigError);
    expect(parseSyslogUrl('tcp://siem.example')).toEqual({ protocol: 'tcp', host: 'siem.example', port: 514 });
    expect(parseSyslogUrl('tls://[::1]')).toEqual({ protocol: 'tls', host: '::1', port: 6514 });
  });
});

/** A syslog collector on loopback: decodes octet-counted frames from every connection. */
class Collector {
  readonly messages: string[] = [];
  connections = 0;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly tlsOptions?: { key: string; cert: string }) {}

  async listen(port = 0): Promise<number> {
    const onSocket = (socket: net.Socket) => {
      this.connections += 1;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      let buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        for (;;) {
          const space = buffer.indexOf(0x20);
          if (space < 0) break;
          const length = Number(buffer.subarray(0, space).toString('ascii'));
          if (buffer.length < space + 1 + length) break;
          this.messages.push(buffer.subarray(space + 1, space + 1 + length).toString('utf8'));
          buffer = buffer.subarray(space + 1 + length);
        }
      });
    };
    this.server = this.tlsOptions ? tls.createServer(this.tlsOptions, onSocket) : net.createServer(onSocket);
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The decoded events whose predicate holds. */
  events(predicate: (event: AuditEventView) => boolean): Array<{ fields: ReturnType<typeof parsed>; event: AuditEventView }> {
    return this.messages
      .map((message) => {
        const fields = parsed(message);
        return { fields, event: JSON.parse(fields.msg) as AuditEventView };
      })
      .filter((entry) => predicate(entry.event));
  }
}

/** Waits until `check` returns a value (the exporter polls on its own); the test's timeout bounds it. */
async function eventually<T>(check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.each(testBackends())('audit export on %s', (backend) => {
  let directory: string;
  const apps: TestApp[] = [];
  const collectors: Collector[] = [];

  beforeAll(async () => {
    directory = await fs.mkdtemp(path.join(os.tmpdir(), 'privgate-audit-export-'));
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    for (const collector of collectors.splice(0)) await collector.close();
  });
  afterAll(async () => fs.rm(directory, { recursive: true, force: true }));

  async function appWith(env: Record<string, string>): Promise<TestApp> {
    const testApp = await createTestApp(backend, { env, auditExportIntervalMs: 50 });
    apps.push(testApp);
    return testApp;
  }

  async function createRole(testApp: TestApp, admin: string, name: string): Promise<string> {
    const response = await testApp.app.inject({ method: 'POST', url: '/role-store/api/v1/roles', headers: bearer(admin), payload: { name, permissions: ['hosts-view'] } });
    expect(response.statusCode, response.body).toBe(201);
    return (response.json() as { id: string }).id;
  }

  async function listed(testApp: TestApp, admin: string, roleId: string): Promise<AuditEventView> {
    const response = await testApp.app.inject({ method: 'GET', url: `${EVENTS}?type=role_created&object_id=${roleId}`, headers: bearer(admin) });
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json() as { count: number; items: AuditEventView[] };
    expect(page.count).toBe(1);
    return page.items[0]!;
  }

  it('a role created through the API reaches the syslog listener over TCP and the JSON-lines file, as the API lists it', async () => {
    const collector = new Collector();
    collectors.push(collector);
    const port = await collector.listen();
    const file = path.join(directory, `${backend}-events.jsonl`);
    const testApp = await appWith({ PRIVGATE_AUDIT_SYSLOG_URL: `tcp://127.0.0.1:${port}`, PRIVGATE_AUDIT_JSONL_FILE: file });
    const admin = (await tokenWith(testApp, 'admin')).token;
    const roleId = await createRole(testApp, admin, 'exported-role');
    const expected = await listed(testApp, admin, roleId);

    const [received] = await eventually(() => {
      const found = collector.events((event) => event.type === 'role_created' && event.object_id === roleId);
      return found.length > 0 ? found : undefined;
    });
    expect(received!.event).toEqual(expected);
    expect(received!.fields).toMatchObject({ pri: 85, appName: 'privgate', msgid: 'ROLE_CREATED', timestamp: expected.created, procid: String(process.pid) });
    expect(received!.fields.sd).toContain(`object_id="${roleId}"`);

    const line = await eventually(async () => {
      const text = await fs.readFile(file, 'utf8').catch(() => '');
      return text.split('\n').find((entry) => entry.includes(roleId));
    });
    expect(JSON.parse(line)).toEqual(expected);
    // Every line is one event: the file holds every stored event once, in insertion order.
    const stored = (await testApp.app.context.database.db.selectFrom('audit_events').select('id').orderBy('seq').execute()).map((row) => row.id);
    const lines = (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean);
    expect(lines.map((entry) => (JSON.parse(entry) as AuditEventView).id)).toEqual(stored);
  });

  it('over TLS to a listener whose certificate chains to the configured CA', async () => {
    const ca = await createCertificateAuthority({ commonName: 'syslog test CA', validityDays: 1 });
    const server = await issueServerCertificate({ ca, commonName: 'syslog', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 });
    const caFile = path.join(directory, `${backend}-ca.pem`);
    await fs.writeFile(caFile, ca.certificatePem);
    const collector = new Collector({ key: server.privateKeyPem, cert: server.certificatePem });
    collectors.push(collector);
    const port = await collector.listen();
    const testApp = await appWith({ PRIVGATE_AUDIT_SYSLOG_URL: `tls://127.0.0.1:${port}`, PRIVGATE_AUDIT_SYSLOG_CA: caFile });
    const admin = (await tokenWith(testApp, 'admin')).token;
    const roleId = await createRole(testApp, admin, 'exported-over-tls');
    const expected = await listed(testApp, admin, roleId);
    const [received] = await eventually(() => {
      const found = collector.events((event) => event.object_id === roleId);
      return found.length > 0 ? found : undefined;
    });
    expect(received!.event).toEqual(expected);
  });

  it('serve keeps answering while the syslog server is down; the events follow once it is back', async () => {
    const port = await freePort();
    const testApp = await appWith({ PRIVGATE_AUDIT_SYSLOG_URL: `tcp://127.0.0.1:${port}` });
    const admin = (await tokenWith(testApp, 'admin')).token;
    const sink = testApp.app.auditExporter!.sinks[0]!;
    const roleIds: string[] = [];
    for (let index = 0; index < 3; index += 1) roleIds.push(await createRole(testApp, admin, `while-down-${index}`));
    // The connection has failed at least once, and nothing was delivered.
    await eventually(() => (sink.stats().failures > 0 ? true : undefined));
    expect(sink.stats().delivered).toBe(0);
    expect((await testApp.app.inject({ method: 'GET', url: EVENTS, headers: bearer(admin) })).statusCode).toBe(200);
    const warnings = testApp.logs.filter((line) => line.includes('syslog connection failed'));
    expect(warnings.length).toBeGreaterThan(0);

    const collector = new Collector();
    collectors.push(collector);
    await collector.listen(port);
    await eventually(() => (collector.events((event) => event.type === 'role_created' && roleIds.includes(event.object_id ?? '')).length === 3 ? true : undefined));
    expect(sink.stats().connections).toBeGreaterThan(0);
    // In order, each once.
    const ids = collector.events((event) => event.type === 'role_created').map((event) => event.event.object_id);
    expect(ids).toEqual(roleIds);
  }, 60_000);

  it('a restarted node resumes after the last event it delivered', async () => {
    const collector = new Collector();
    collectors.push(collector);
    const port = await collector.listen();
    const first = await createTestApp(backend, { env: { PRIVGATE_AUDIT_SYSLOG_URL: `tcp://127.0.0.1:${port}` }, auditExportIntervalMs: 50 });
    const storage = first.storage;
    const admin = (await tokenWith(first, 'admin')).token;
    const before = await createRole(first, admin, 'before-restart');
    await eventually(() => (collector.events((event) => event.object_id === before).length > 0 ? true : undefined));
    await first.app.close();
    const second = await createTestApp(backend, { env: { PRIVGATE_AUDIT_SYSLOG_URL: `tcp://127.0.0.1:${port}` }, auditExportIntervalMs: 50, storage });
    try {
      const admin2 = (await tokenWith(second, 'admin')).token;
      const after = await createRole(second, admin2, 'after-restart');
      await eventually(() => (collector.events((event) => event.object_id === after).length > 0 ? true : undefined));
      expect(collector.events((event) => event.object_id === before)).toHaveLength(1);
    } finally {
      await second.close();
      await storage.cleanup();
    }
  });
});
