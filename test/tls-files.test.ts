import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { issueServerCertificate } from '../src/lib/pki/ca.js';
import { certificateSubjectAltNames } from '../src/lib/pki/subject-alt-names.js';
import { TLS_FILE_NAMES, ensureLocalTls } from '../src/tls-files.js';

const DAY = 24 * 60 * 60 * 1000;
const isPosix = process.platform !== 'win32';

let root: string;
let dir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'privgate-tls-'));
  dir = join(root, 'nested', 'tls');
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
const mode = (path: string): number => statSync(path).mode & 0o777;

describe('ensureLocalTls', () => {
  it('creates the directory, the CA and a server certificate on first call', async () => {
    const tls = await ensureLocalTls({ directory: dir, extraNames: [] });
    expect(tls.created).toBe(true);
    expect(tls.serverCertificateIssued).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['ca-key.pem', 'ca.pem', 'server-key.pem', 'server.pem']);
    expect(read(TLS_FILE_NAMES.caCertificate)).toBe(tls.caPem);
    expect(read(TLS_FILE_NAMES.serverCertificate)).toBe(tls.certPem);
    expect(read(TLS_FILE_NAMES.serverKey)).toBe(tls.keyPem);

    const ca = new X509Certificate(tls.caPem);
    const cert = new X509Certificate(tls.certPem);
    expect(ca.ca).toBe(true);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(tls.keyPem))).toBe(true);
    expect(ca.checkPrivateKey(createPrivateKey(read(TLS_FILE_NAMES.caKey)))).toBe(true);
  });

  it.runIf(isPosix)('uses mode 0700 for the directory and 0600 for key files', async () => {
    await ensureLocalTls({ directory: dir, extraNames: [] });
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, TLS_FILE_NAMES.caKey))).toBe(0o600);
    expect(mode(join(dir, TLS_FILE_NAMES.serverKey))).toBe(0o600);
    expect(mode(join(dir, TLS_FILE_NAMES.caCertificate))).toBe(0o644);
    expect(mode(join(dir, TLS_FILE_NAMES.serverCertificate))).toBe(0o644);
  });

  it('includes localhost, 127.0.0.1, ::1, the host name and extra names', async () => {
    const tls = await ensureLocalTls({ directory: dir, extraNames: ['privgate.example', '10.20.30.40', 'fd00::1', ' [fd00::2] ', 'UPPER.Example.'] });
    const cert = new X509Certificate(tls.certPem);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost('privgate.example')).toBe('privgate.example');
    expect(cert.checkIP('10.20.30.40')).toBe('10.20.30.40');
    expect(cert.checkIP('fd00::1')).toBe('fd00::1');
    expect(cert.checkIP('fd00::2')).toBe('fd00::2');
    expect(cert.checkHost('upper.example')).toBeDefined();
    const host = hostname();
    if (host) expect(certificateSubjectAltNames(tls.certPem).dnsNames).toContain(host.toLowerCase());
    // IP addresses never end up as DNS names and vice versa.
    const sans = certificateSubjectAltNames(tls.certPem);
    expect(sans.dnsNames).not.toContain('10.20.30.40');
    expect(sans.ipAddresses).toEqual(expect.arrayContaining(['127.0.0.1', '::1', '10.20.30.40', 'fd00::1', 'fd00::2']));
  });

  it('uses the hostName option (IP host names are classified as IPs)', async () => {
    const tls = await ensureLocalTls({ directory: dir, hostName: '192.0.2.7' });
    const sans = certificateSubjectAltNames(tls.certPem);
    expect(sans.ipAddresses).toContain('192.0.2.7');
    expect(sans.dnsNames).toEqual(['localhost']);
  });

  it('several processes starting at once on one directory agree on one CA that signs every server certificate', async () => {
    const results = await Promise.all([0, 1, 2, 3].map(() => ensureLocalTls({ directory: dir, extraNames: [] })));
    const published = readFileSync(join(dir, TLS_FILE_NAMES.caCertificate), 'utf8');
    const ca = new X509Certificate(published);
    for (const result of results) {
      expect(result.caPem).toBe(published);
      expect(new X509Certificate(result.certPem).verify(ca.publicKey)).toBe(true);
    }
    expect(results.filter((result) => result.created)).toHaveLength(1);
    expect(readdirSync(dir)).not.toContain('.lock');
  });

  it('reuses the files on later calls', async () => {
    const first = await ensureLocalTls({ directory: dir, extraNames: ['a.example'] });
    const before = readdirSync(dir).map((f) => [f, statSync(join(dir, f)).mtimeMs]);
    const second = await ensureLocalTls({ directory: dir, extraNames: ['a.example'] });
    expect(second).toEqual({ ...first, created: false, serverCertificateIssued: false });
    const third = await ensureLocalTls({ directory: dir, extraNames: [] }); // fewer names: still fine
    expect(third.certPem).toBe(first.certPem);
    expect(readdirSync(dir).map((f) => [f, statSync(join(dir, f)).mtimeMs])).toEqual(before);
  });

  it('re-issues only the server certificate when a new name is requested', async () => {
    const first = await ensureLocalTls({ directory: dir, extraNames: ['a.example'] });
    const caKey = read(TLS_FILE_NAMES.caKey);
    const second = await ensureLocalTls({ directory: dir, extraNames: ['a.example', 'b.example', '198.51.100.1'] });
    expect(second.created).toBe(false);
    expect(second.serverCertificateIssued).toBe(true);
    expect(second.caPem).toBe(first.caPem);
    expect(read(TLS_FILE_NAMES.caKey)).toBe(caKey);
    expect(second.certPem).not.toBe(first.certPem);
    expect(second.keyPem).not.toBe(first.keyPem);
    const cert = new X509Certificate(second.certPem);
    expect(cert.checkIssued(new X509Certificate(first.caPem))).toBe(true);
    expect(cert.checkHost('a.example')).toBe('a.example');
    expect(cert.checkHost('b.example')).toBe('b.example');
    expect(cert.checkIP('198.51.100.1')).toBe('198.51.100.1');
    expect(read(TLS_FILE_NAMES.serverCertificate)).toBe(second.certPem);
    expect(read(TLS_FILE_NAMES.serverKey)).toBe(second.keyPem);
    if (isPosix) expect(mode(join(dir, TLS_FILE_NAMES.serverKey))).toBe(0o600);

    // Names accumulate: dropping b.example later does not trigger another re-issue.
    const third = await ensureLocalTls({ directory: dir, extraNames: ['a.example'] });
    expect(third.serverCertificateIssued).toBe(false);
    expect(third.certPem).toBe(second.certPem);
  });

  it('matches an IPv6 extra name regardless of its spelling', async () => {
    const first = await ensureLocalTls({ directory: dir, extraNames: ['2001:db8::1'] });
    const again = await ensureLocalTls({ directory: dir, extraNames: ['2001:0DB8:0:0:0:0:0:1'] });
    expect(again.serverCertificateIssued).toBe(false);
    expect(again.certPem).toBe(first.certPem);
  });

  it('re-issues the server certificate when it expires within 30 days', async () => {
    const first = await ensureLocalTls({ directory: dir, serverValidityDays: 365 });
    const notYet = await ensureLocalTls({ directory: dir, now: new Date(Date.now() + 300 * DAY) });
    expect(notYet.serverCertificateIssued).toBe(false);
    const soon = await ensureLocalTls({ directory: dir, now: new Date(Date.now() + 340 * DAY) });
    expect(soon.serverCertificateIssued).toBe(true);
    expect(soon.caPem).toBe(first.caPem);
    expect(soon.certPem).not.toBe(first.certPem);
  });

  it('re-issues a short-lived server certificate found on disk', async () => {
    const first = await ensureLocalTls({ directory: dir });
    const shortLived = await issueServerCertificate({
      ca: { certificatePem: first.caPem, privateKeyPem: read(TLS_FILE_NAMES.caKey) },
      commonName: 'localhost',
      dnsNames: certificateSubjectAltNames(first.certPem).dnsNames,
      ipAddresses: certificateSubjectAltNames(first.certPem).ipAddresses,
      validityDays: 10,
    });
    writeFileSync(join(dir, TLS_FILE_NAMES.serverCertificate), shortLived.certificatePem);
    writeFileSync(join(dir, TLS_FILE_NAMES.serverKey), shortLived.privateKeyPem);
    const next = await ensureLocalTls({ directory: dir });
    expect(next.serverCertificateIssued).toBe(true);
    expect(next.caPem).toBe(first.caPem);
    const validTo = new Date(new X509Certificate(next.certPem).validTo).getTime();
    expect(validTo).toBeGreaterThan(Date.now() + 300 * DAY);
  });

  it('re-issues when the server files are missing, mismatched or corrupt', async () => {
    const first = await ensureLocalTls({ directory: dir });
    rmSync(join(dir, TLS_FILE_NAMES.serverKey));
    const a = await ensureLocalTls({ directory: dir });
    expect(a.serverCertificateIssued).toBe(true);
    expect(a.caPem).toBe(first.caPem);

    writeFileSync(join(dir, TLS_FILE_NAMES.serverKey), first.keyPem); // key of an older cert
    const b = await ensureLocalTls({ directory: dir });
    expect(b.serverCertificateIssued).toBe(true);
    expect(new X509Certificate(b.certPem).checkPrivateKey(createPrivateKey(b.keyPem))).toBe(true);

    writeFileSync(join(dir, TLS_FILE_NAMES.serverCertificate), 'garbage');
    const c = await ensureLocalTls({ directory: dir });
    expect(c.serverCertificateIssued).toBe(true);
    expect(c.caPem).toBe(first.caPem);
  });

  it('re-issues a server certificate that was not signed by this CA', async () => {
    const first = await ensureLocalTls({ directory: dir });
    const otherDir = join(root, 'other');
    const other = await ensureLocalTls({ directory: otherDir });
    writeFileSync(join(dir, TLS_FILE_NAMES.serverCertificate), other.certPem);
    writeFileSync(join(dir, TLS_FILE_NAMES.serverKey), other.keyPem);
    const next = await ensureLocalTls({ directory: dir });
    expect(next.serverCertificateIssued).toBe(true);
    expect(new X509Certificate(next.certPem).checkIssued(new X509Certificate(first.caPem))).toBe(true);
  });

  it('never replaces an existing CA whose key is missing or mismatched', async () => {
    const first = await ensureLocalTls({ directory: dir });
    const caKey = read(TLS_FILE_NAMES.caKey);
    rmSync(join(dir, TLS_FILE_NAMES.caKey));
    await expect(ensureLocalTls({ directory: dir })).rejects.toThrow(/ca-key\.pem is missing/);
    const other = await ensureLocalTls({ directory: join(root, 'other') });
    writeFileSync(join(dir, TLS_FILE_NAMES.caKey), readFileSync(join(root, 'other', TLS_FILE_NAMES.caKey)));
    await expect(ensureLocalTls({ directory: dir })).rejects.toThrow(/does not match/);
    expect(read(TLS_FILE_NAMES.caCertificate)).toBe(first.caPem);
    expect(other.caPem).not.toBe(first.caPem);
    writeFileSync(join(dir, TLS_FILE_NAMES.caKey), caKey);
    await expect(ensureLocalTls({ directory: dir })).resolves.toMatchObject({ created: false, caPem: first.caPem });
  });

  it('recovers from a lone CA key left by an interrupted first run', async () => {
    await ensureLocalTls({ directory: dir });
    rmSync(join(dir, TLS_FILE_NAMES.caCertificate));
    const again = await ensureLocalTls({ directory: dir });
    expect(again.created).toBe(true);
    expect(new X509Certificate(again.caPem).checkPrivateKey(createPrivateKey(read(TLS_FILE_NAMES.caKey)))).toBe(true);
  });

  it('rejects extra names that are neither DNS names nor IP addresses', async () => {
    await expect(ensureLocalTls({ directory: dir, extraNames: ['not a name'] })).rejects.toThrow(TypeError);
    await expect(ensureLocalTls({ directory: dir, extraNames: ['http://x.example'] })).rejects.toThrow(TypeError);
  });

  it('leaves no temporary files behind', async () => {
    await ensureLocalTls({ directory: dir });
    await ensureLocalTls({ directory: dir, extraNames: ['new.example'] });
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
