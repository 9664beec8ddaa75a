import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey, verify, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet, createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueServerCertificate } from '../../src/lib/pki/ca.js';
import { describeCertificate } from '../../src/lib/pki/certificate-description.js';
import type { CertificateAuthority } from '../../src/lib/pki/common.js';
import { createCertificateRevocationList } from '../../src/lib/pki/crl.js';
import { InvalidCsrError, createCertificateSigningRequest, signCertificateSigningRequest } from '../../src/lib/pki/csr.js';
import { normalizeSerialHex } from '../../src/lib/pki/serial-numbers.js';
import { canonicalIpAddress, certificateSubjectAltNames, isValidDnsName } from '../../src/lib/pki/subject-alt-names.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const DAY = 24 * 60 * 60 * 1000;

function hasTool(tool: string, args: string[]): boolean {
  const result = spawnSync(tool, args, { stdio: 'ignore' });
  return result.error === undefined;
}
const HAS_OPENSSL = hasTool('openssl', ['version']);
const HAS_SSH_KEYGEN = hasTool('ssh-keygen', ['-?']);

let workDir: string;
let ca: CertificateAuthority;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'privgate-pki-'));
  ca = await createCertificateAuthority({ commonName: 'privgate test CA', validityDays: 30 });
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

function writeTemp(name: string, data: string | Buffer): string {
  const path = join(workDir, name);
  writeFileSync(path, data);
  return path;
}

function peculiar(pem: string): x509.X509Certificate {
  return new x509.X509Certificate(pem);
}

describe('createCertificateAuthority', () => {
  it('creates a self-signed CA certificate with the required extensions', () => {
    const cert = new X509Certificate(ca.certificatePem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=privgate test CA');
    expect(cert.issuer).toBe('CN=privgate test CA');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);

    const p = peculiar(ca.certificatePem);
    const bc = p.getExtension(x509.BasicConstraintsExtension);
    expect(bc?.ca).toBe(true);
    expect(bc?.critical).toBe(true);
    const ku = p.getExtension(x509.KeyUsagesExtension);
    expect(ku?.critical).toBe(true);
    expect(ku?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    const ski = p.getExtension(x509.SubjectKeyIdentifierExtension);
    expect(ski?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(p.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
  });

  it('uses a fresh P-256 key that matches the certificate (PKCS#8 PEM)', () => {
    expect(ca.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const key = createPrivateKey(ca.privateKeyPem);
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(new X509Certificate(ca.certificatePem).checkPrivateKey(key)).toBe(true);
  });

  it('uses a random positive 128-bit serial', async () => {
    const other = await createCertificateAuthority({ commonName: 'other', validityDays: 1 });
    const serials = [ca, other].map((c) => new X509Certificate(c.certificatePem).serialNumber.toLowerCase());
    for (const serial of serials) {
      expect(serial).toMatch(/^[0-9a-f]{32}$/);
      expect(Number.parseInt(serial.slice(0, 2), 16)).toBeLessThan(0x80);
    }
    expect(serials[0]).not.toBe(serials[1]);
  });

  it('honours validityDays and back-dates notBefore slightly', () => {
    const d = describeCertificate(ca.certificatePem);
    const now = Date.now();
    expect(d.notBefore.getTime()).toBeLessThanOrEqual(now);
    expect(d.notBefore.getTime()).toBeGreaterThan(now - 10 * 60 * 1000);
    expect(Math.abs(d.notAfter.getTime() - (now + 30 * DAY))).toBeLessThan(60 * 1000);
  });

  it.each(['Acme, Inc. "CA" + ünïcode', '#not-hex', '"quoted"'])('keeps the common name %s intact', async (commonName) => {
    const odd = await createCertificateAuthority({ commonName, validityDays: 1 });
    expect(peculiar(odd.certificatePem).subjectName.getField('CN')).toEqual([commonName]);
    const issued = await issueServerCertificate({ ca: odd, commonName, dnsNames: ['a.test'], ipAddresses: [], validityDays: 1 });
    const cert = new X509Certificate(issued.certificatePem);
    expect(cert.checkIssued(new X509Certificate(odd.certificatePem))).toBe(true);
    expect(peculiar(issued.certificatePem).subjectName.getField('CN')).toEqual([commonName]);
  });

  it('rejects invalid arguments', async () => {
    await expect(createCertificateAuthority({ commonName: '', validityDays: 1 })).rejects.toThrow(TypeError);
    await expect(createCertificateAuthority({ commonName: 'x'.repeat(65), validityDays: 1 })).rejects.toThrow(TypeError);
    await expect(createCertificateAuthority({ commonName: 'ca', validityDays: 0 })).rejects.toThrow(RangeError);
    await expect(createCertificateAuthority({ commonName: 'ca', validityDays: Number.NaN })).rejects.toThrow(RangeError);
  });
});

describe('issueServerCertificate', () => {
  let server: { certificatePem: string; privateKeyPem: string };

  beforeAll(async () => {
    server = await issueServerCertificate({
      ca,
      commonName: 'privgate.test',
      dnsNames: ['localhost', 'privgate.test', '*.apps.privgate.test'],
      ipAddresses: ['127.0.0.1', '::1', '2001:db8::10'],
      validityDays: 10,
    });
  });

  it('is issued and signed by the CA', () => {
    const caCert = new X509Certificate(ca.certificatePem);
    const cert = new X509Certificate(server.certificatePem);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.subject).toBe('CN=privgate.test');
    expect(cert.issuer).toBe('CN=privgate test CA');
    expect(cert.checkPrivateKey(createPrivateKey(server.privateKeyPem))).toBe(true);
  });

  it('carries every DNS name and IP address (IPv4 and IPv6) in subjectAltName', () => {
    const cert = new X509Certificate(server.certificatePem);
    const san = cert.subjectAltName ?? '';
    for (const entry of [
      'DNS:localhost',
      'DNS:privgate.test',
      'DNS:*.apps.privgate.test',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
      'IP Address:2001:DB8:0:0:0:0:0:10',
    ]) {
      expect(san).toContain(entry);
    }
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('privgate.test')).toBe('privgate.test');
    expect(cert.checkHost('x.apps.privgate.test')).toBe('*.apps.privgate.test');
    expect(cert.checkHost('evil.test')).toBeUndefined();
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkIP('2001:db8::10')).toBe('2001:db8::10');
    expect(cert.checkIP('10.0.0.1')).toBeUndefined();
    expect(certificateSubjectAltNames(server.certificatePem)).toEqual({
      dnsNames: ['localhost', 'privgate.test', '*.apps.privgate.test'],
      ipAddresses: ['127.0.0.1', '::1', '2001:db8::10'],
    });
  });

  it('has serverAuth EKU, CA:FALSE, digitalSignature and key identifiers', () => {
    const cert = new X509Certificate(server.certificatePem);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    const p = peculiar(server.certificatePem);
    expect(p.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(p.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    const caSki = peculiar(ca.certificatePem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    expect(p.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(caSki);
    expect(p.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
  });

  it('validates names and the CA key', async () => {
    const base = { ca, commonName: 'x', dnsNames: [], ipAddresses: [], validityDays: 1 };
    await expect(issueServerCertificate({ ...base, ipAddresses: ['300.1.1.1'] })).rejects.toThrow(TypeError);
    await expect(issueServerCertificate({ ...base, ipAddresses: ['localhost'] })).rejects.toThrow(TypeError);
    await expect(issueServerCertificate({ ...base, dnsNames: ['bad name'] })).rejects.toThrow(TypeError);
    await expect(issueServerCertificate({ ...base, dnsNames: ['a..b'] })).rejects.toThrow(TypeError);
    const other = await createCertificateAuthority({ commonName: 'other', validityDays: 1 });
    await expect(
      issueServerCertificate({ ...base, ca: { certificatePem: ca.certificatePem, privateKeyPem: other.privateKeyPem } }),
    ).rejects.toThrow(/does not match/);
  });

  it.runIf(HAS_OPENSSL)('verifies with openssl verify -CAfile', () => {
    const caFile = writeTemp('server-ca.pem', ca.certificatePem);
    const certFile = writeTemp('server.pem', server.certificatePem);
    const out = execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', caFile, certFile], { encoding: 'utf8' });
    expect(out.trim()).toBe(`${certFile}: OK`);
  });
});

describe('TLS handshake with an issued certificate', () => {
  const servers: Server[] = [];
  let v4Port = 0;
  let v6Port = 0;

  async function listen(host: string, certificatePem: string, keyPem: string): Promise<number> {
    const server = createServer({ cert: certificatePem, key: keyPem }, (_req, res) => {
      res.end('hello');
    });
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  function request(options: { host: string; port: number; servername?: string; caPem: string }): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = httpsGet(
        { host: options.host, port: options.port, servername: options.servername, ca: options.caPem, agent: false, path: '/' },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
    });
  }

  beforeAll(async () => {
    const issued = await issueServerCertificate({
      ca,
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      validityDays: 1,
    });
    v4Port = await listen('127.0.0.1', issued.certificatePem, issued.privateKeyPem);
    try {
      v6Port = await listen('::1', issued.certificatePem, issued.privateKeyPem);
    } catch {
      v6Port = 0; // no IPv6 loopback in this environment
    }
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  });

  it('connects as localhost (SNI + hostname check)', async () => {
    await expect(request({ host: '127.0.0.1', port: v4Port, servername: 'localhost', caPem: ca.certificatePem })).resolves.toBe('hello');
  });

  it('connects as 127.0.0.1 (IP check)', async () => {
    await expect(request({ host: '127.0.0.1', port: v4Port, caPem: ca.certificatePem })).resolves.toBe('hello');
  });

  it('connects as ::1 (IPv6 check)', async (ctx) => {
    if (v6Port === 0) ctx.skip();
    await expect(request({ host: '::1', port: v6Port, caPem: ca.certificatePem })).resolves.toBe('hello');
  });

  it('rejects a name that is not in the certificate', async () => {
    await expect(request({ host: '127.0.0.1', port: v4Port, servername: 'other.test', caPem: ca.certificatePem })).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });

  it('rejects the server when the client trusts a different CA', async () => {
    const other = await createCertificateAuthority({ commonName: 'untrusted', validityDays: 1 });
    await expect(request({ host: '127.0.0.1', port: v4Port, caPem: other.certificatePem })).rejects.toMatchObject({
      code: expect.stringMatching(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/),
    });
  });
});

describe('certificate signing requests', () => {
  it('creates a verifiable CSR and a matching key', async () => {
    const { csrPem, privateKeyPem } = await createCertificateSigningRequest({ commonName: 'agent-1' });
    expect(csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe('CN=agent-1');
    const fromKey = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'der' });
    expect(Buffer.from(csr.publicKey.rawData).equals(fromKey)).toBe(true);
  });

  it.each([
    ['server', ['1.3.6.1.5.5.7.3.1']],
    ['client', ['1.3.6.1.5.5.7.3.2']],
    ['both', ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']],
  ] as const)('signs a CSR with extendedKeyUsage %s', async (usage, oids) => {
    const { csrPem, privateKeyPem } = await createCertificateSigningRequest({ commonName: `client-${usage}` });
    const { certificatePem, serial } = await signCertificateSigningRequest({ ca, csrPem, validityDays: 2, extendedKeyUsage: usage });
    const cert = new X509Certificate(certificatePem);
    const caCert = new X509Certificate(ca.certificatePem);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(privateKeyPem))).toBe(true);
    expect(cert.subject).toBe(`CN=client-${usage}`);
    expect(cert.keyUsage).toEqual(oids);
    expect(cert.ca).toBe(false);
    expect(serial).toBe(cert.serialNumber.toLowerCase());
    expect(serial).toBe(describeCertificate(certificatePem).serial);
    const caSki = peculiar(ca.certificatePem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    expect(peculiar(certificatePem).getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(caSki);
    const notAfter = describeCertificate(certificatePem).notAfter.getTime();
    expect(Math.abs(notAfter - (Date.now() + 2 * DAY))).toBeLessThan(60 * 1000);
  });

  it('overrides the common name and adds caller-chosen SANs only', async () => {
    const { csrPem } = await createCertificateSigningRequest({ commonName: 'requested' });
    const { certificatePem } = await signCertificateSigningRequest({
      ca,
      csrPem,
      commonName: 'assigned',
      validityDays: 1,
      extendedKeyUsage: 'server',
      dnsNames: ['host.example'],
      ipAddresses: ['10.1.2.3'],
    });
    const cert = new X509Certificate(certificatePem);
    expect(cert.subject).toBe('CN=assigned');
    expect(cert.checkHost('host.example')).toBe('host.example');
    expect(cert.checkIP('10.1.2.3')).toBe('10.1.2.3');
  });

  it('rejects unparseable input with InvalidCsrError', async () => {
    for (const csrPem of ['', 'garbage', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n']) {
      await expect(signCertificateSigningRequest({ ca, csrPem, validityDays: 1, extendedKeyUsage: 'client' })).rejects.toBeInstanceOf(
        InvalidCsrError,
      );
    }
  });

  it('rejects a CSR whose signature does not verify', async () => {
    const { csrPem } = await createCertificateSigningRequest({ commonName: 'tampered' });
    const der = Buffer.from(x509.PemConverter.decode(csrPem)[0]!);
    const at = der.indexOf(Buffer.from('tampered'));
    expect(at).toBeGreaterThan(0);
    der[at] = 'T'.charCodeAt(0);
    const bad = x509.PemConverter.encode(der.buffer.slice(der.byteOffset, der.byteOffset + der.length) as ArrayBuffer, 'CERTIFICATE REQUEST');
    const error = await signCertificateSigningRequest({ ca, csrPem: bad, validityDays: 1, extendedKeyUsage: 'client' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidCsrError);
    expect((error as Error).name).toBe('InvalidCsrError');
    expect((error as Error).message).toMatch(/signature/);
  });

  it('rejects a CSR with a weak RSA key and accepts a 2048-bit one (with keyEncipherment)', async () => {
    const makeRsaCsr = async (bits: number): Promise<string> => {
      const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: bits };
      const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=rsa', keys, signingAlgorithm: alg });
      return csr.toString('pem');
    };
    await expect(
      signCertificateSigningRequest({ ca, csrPem: await makeRsaCsr(1024), validityDays: 1, extendedKeyUsage: 'client' }),
    ).rejects.toBeInstanceOf(InvalidCsrError);
    const { certificatePem } = await signCertificateSigningRequest({ ca, csrPem: await makeRsaCsr(2048), validityDays: 1, extendedKeyUsage: 'client' });
    expect(peculiar(certificatePem).getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    );
    expect(describeCertificate(certificatePem)).toMatchObject({ keyType: 'RSA', keySize: 2048 });
  });

  it('rejects a CSR without a common name unless one is given', async () => {
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'O=NoCommonName', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
    const csrPem = csr.toString('pem');
    await expect(signCertificateSigningRequest({ ca, csrPem, validityDays: 1, extendedKeyUsage: 'client' })).rejects.toBeInstanceOf(InvalidCsrError);
    const { certificatePem } = await signCertificateSigningRequest({ ca, csrPem, commonName: 'given', validityDays: 1, extendedKeyUsage: 'client' });
    expect(new X509Certificate(certificatePem).subject).toBe('CN=given');
  });

  it('rejects a bad extendedKeyUsage value', async () => {
    const { csrPem } = await createCertificateSigningRequest({ commonName: 'x' });
    await expect(
      signCertificateSigningRequest({ ca, csrPem, validityDays: 1, extendedKeyUsage: 'code' as unknown as 'server' }),
    ).rejects.toThrow(TypeError);
  });

  it.runIf(HAS_OPENSSL)('signs a CSR made by openssl, and openssl verifies the result', async () => {
    const keyFile = join(workDir, 'openssl-key.pem');
    const csrFile = join(workDir, 'openssl.csr');
    execFileSync('openssl', [
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', keyFile, '-out', csrFile, '-subj', '/CN=from-openssl',
    ], { stdio: 'ignore' });
    const csrPem = execFileSync('cat', [csrFile], { encoding: 'utf8' });
    const { certificatePem } = await signCertificateSigningRequest({ ca, csrPem, validityDays: 1, extendedKeyUsage: 'client' });
    const certFile = writeTemp('openssl-signed.pem', certificatePem);
    const caFile = writeTemp('openssl-ca.pem', ca.certificatePem);
    const out = execFileSync('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', caFile, certFile], { encoding: 'utf8' });
    expect(out.trim()).toBe(`${certFile}: OK`);
    expect(new X509Certificate(certificatePem).subject).toBe('CN=from-openssl');
  });
});

describe('createCertificateRevocationList', () => {
  const thisUpdate = new Date('2025-01-01T00:00:00Z');
  const nextUpdate = new Date('2025-01-08T00:00:00Z');

  it('produces a CRL signed by the CA that lists the revoked serials', async () => {
    const revokedAt = new Date('2024-12-31T12:34:56Z');
    const { pem, der } = await createCertificateRevocationList({
      ca,
      revoked: [
        { serial: '0a1b2c3d4e5f60718293a4b5c6d7e8f9', revokedAt },
        { serial: 'FF:01', revokedAt: new Date('2060-06-01T00:00:00Z') },
      ],
      thisUpdate,
      nextUpdate,
      crlNumber: 42,
    });
    expect(pem).toMatch(/^-----BEGIN X509 CRL-----/);
    expect(Buffer.isBuffer(der)).toBe(true);
    const crl = new x509.X509Crl(der);
    expect(Buffer.from(x509.PemConverter.decode(pem)[0]!).equals(der)).toBe(true);
    expect(crl.version).toBe(1); // v2
    expect(crl.issuer).toBe('CN=privgate test CA');
    expect(crl.thisUpdate.toISOString()).toBe(thisUpdate.toISOString());
    expect(crl.nextUpdate?.toISOString()).toBe(nextUpdate.toISOString());
    expect(await crl.verify({ publicKey: peculiar(ca.certificatePem) })).toBe(true);
    const other = await createCertificateAuthority({ commonName: 'other', validityDays: 1 });
    expect(await crl.verify({ publicKey: peculiar(other.certificatePem) })).toBe(false);
    expect(crl.entries.map((e) => e.revocationDate.toISOString())).toEqual([revokedAt.toISOString(), '2060-06-01T00:00:00.000Z']);
    expect(crl.findRevoked('0a1b2c3d4e5f60718293a4b5c6d7e8f9')).not.toBeNull();
    const crlNumber = crl.getExtension('2.5.29.20');
    expect(Buffer.from(crlNumber!.value).toString('hex')).toBe('02012a');
    const aki = crl.getExtension(x509.AuthorityKeyIdentifierExtension);
    expect(aki?.keyId).toBe(peculiar(ca.certificatePem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  });

  it('omits the revoked list when nothing is revoked', async () => {
    const { der } = await createCertificateRevocationList({ ca, revoked: [], thisUpdate, nextUpdate, crlNumber: 0 });
    const crl = new x509.X509Crl(der);
    expect(crl.entries).toHaveLength(0);
    expect(await crl.verify({ publicKey: peculiar(ca.certificatePem) })).toBe(true);
  });

  it('encodes large CRL numbers', async () => {
    const { der } = await createCertificateRevocationList({ ca, revoked: [], thisUpdate, nextUpdate, crlNumber: Number.MAX_SAFE_INTEGER });
    const ext = new x509.X509Crl(der).getExtension('2.5.29.20');
    expect(Buffer.from(ext!.value).toString('hex')).toBe('02071fffffffffffff');
  });

  it('rejects bad arguments', async () => {
    const base = { ca, revoked: [], thisUpdate, nextUpdate, crlNumber: 1 };
    await expect(createCertificateRevocationList({ ...base, nextUpdate: thisUpdate })).rejects.toThrow(RangeError);
    await expect(createCertificateRevocationList({ ...base, crlNumber: -1 })).rejects.toThrow(TypeError);
    await expect(createCertificateRevocationList({ ...base, crlNumber: 1.5 })).rejects.toThrow(TypeError);
    await expect(createCertificateRevocationList({ ...base, revoked: [{ serial: 'xyz', revokedAt: thisUpdate }] })).rejects.toThrow(TypeError);
    await expect(
      createCertificateRevocationList({
        ...base,
        revoked: [
          { serial: '0102', revokedAt: thisUpdate },
          { serial: '00:01:02', revokedAt: thisUpdate },
        ],
      }),
    ).rejects.toThrow(/duplicate/);
  });

  /** A fixed CA (test-only key) so the to-be-signed bytes of a CRL are reproducible. */
  const GOLDEN_CA: CertificateAuthority = {
    certificatePem: [
      '-----BEGIN CERTIFICATE-----',
      'MIIBfDCCASKgAwIBAgIQQveaqsep+/xxMumEI0vXXzAKBggqhkjOPQQDAjAdMRsw',
      'GQYDVQQDDBJwcml2Z2F0ZSBnb2xkZW4gQ0EwIBcNMjYxMjAzMTk1NTAxWhgPMjEy',
      'NjExMDkyMDAwMDFaMB0xGzAZBgNVBAMMEnByaXZnYXRlIGdvbGRlbiBDQTBZMBMG',
      'ByqGSM49AgEGCCqGSM49AwEHA0IABBHbPDLWjj76ZTzYUc5lvE2Jf9WuO87WpdWt',
      'PZ8qSGgX6gaRHVSvLTfLOaK9GHZ6/T6Zyn88E0oj1PBuNWokxUqjQjBAMA8GA1Ud',
      'EwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBRwcEOfCOOQwrI2',
      'yHulDiucSM4G/TAKBggqhkjOPQQDAgNIADBFAiA9qExjU48HR8lNwHE/LykwaIlw',
      'DGjZmyZFCyW/u6uiRQIhAKwyqJvBe8fa93qV1M/wTQBpV1F4h4ysePsPyaArGTO1',
      '-----END CERTIFICATE-----',
    ].join('\n'),
    privateKeyPem: [
      '-----BEGIN PRIVATE KEY-----',
      'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJcTd3SrgzaLHmFxp',
      'prmZZc5h1icPtTo/E7UFhF7AGJWhRANCAAQR2zwy1o4++mU82FHOZbxNiX/VrjvO',
      '1qXVrT2fKkhoF+oGkR1Ury03yzmivRh2ev0+mcp/PBNKI9TwbjVqJMVK',
      '-----END PRIVATE KEY-----',
    ].join('\n'),
  };

  /** The raw to-be-signed bytes of a DER CRL (the first element of the outer SEQUENCE), as they were signed. */
  function rawTbs(der: Buffer): Buffer {
    const headerLength = (at: number): number => (der[at + 1]! < 0x80 ? 2 : 2 + (der[at + 1]! & 0x7f));
    const contentLength = (at: number): number => {
      const first = der[at + 1]!;
      if (first < 0x80) return first;
      let length = 0;
      for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + der[at + 2 + i]!;
      return length;
    };
    const start = headerLength(0);
    return der.subarray(start, start + headerLength(start) + contentLength(start));
  }

  // Recorded from the hand-assembled DER writer this module had before it was built from
  // @peculiar/asn1-x509 classes: the encoding must not change (serials with and without a sign
  // byte and with leading zero bytes, UTCTime for 1950–2049 and GeneralizedTime outside, with
  // milliseconds dropped, CRL numbers with a sign byte and at 2^53 - 1, extension order).
  it.each([
    {
      name: 'five revoked serials, CRL number 128',
      crlNumber: 128,
      revoked: [
        { serial: '0a1b2c3d4e5f60718293a4b5c6d7e8f9', revokedAt: new Date('2024-12-31T12:34:56Z') },
        { serial: 'FF:01', revokedAt: new Date('2060-06-01T00:00:00.500Z') },
        { serial: '0x00', revokedAt: new Date('1949-12-31T23:59:59.999Z') },
        { serial: '00:00:7f', revokedAt: new Date('1950-01-01T00:00:00.999Z') },
        { serial: '80', revokedAt: new Date('2049-12-31T23:59:59Z') },
      ],
      tbsHex:
        '3081fc020101300a06082a8648ce3d040302301d311b301906035504030c12707269766761746520676f6c64656e204341170d3235303130313030303030305a180f32303530303130313030303030305a307a302102100a1b2c3d4e5f60718293a4b5c6d7e8f9170d3234313233313132333435365a3016020300ff01180f32303630303630313030303030305a3014020100180f31393439313233313233353935395a301202017f170d3530303130313030303030305a301302020080170d3439313233313233353935395aa030302e301f0603551d230418301680147070439f08e390c2b236c87ba50e2b9c48ce06fd300b0603551d14040402020080',
    },
    {
      name: 'nothing revoked, CRL number 2^53 - 1',
      crlNumber: Number.MAX_SAFE_INTEGER,
      revoked: [],
      tbsHex:
        '308185020101300a06082a8648ce3d040302301d311b301906035504030c12707269766761746520676f6c64656e204341170d3235303130313030303030305a180f32303530303130313030303030305aa0353033301f0603551d230418301680147070439f08e390c2b236c87ba50e2b9c48ce06fd30100603551d14040902071fffffffffffff',
    },
  ])('encodes the to-be-signed list exactly as the hand-assembled DER writer did ($name)', async ({ crlNumber, revoked, tbsHex }) => {
    const { der } = await createCertificateRevocationList({
      ca: GOLDEN_CA,
      revoked,
      thisUpdate: new Date('2025-01-01T00:00:00.750Z'),
      nextUpdate: new Date('2050-01-01T00:00:00Z'),
      crlNumber,
    });
    const tbs = rawTbs(der);
    expect(tbs.toString('hex')).toBe(tbsHex);
    // The rest of the CRL: the same algorithm identifier again, then a BIT STRING (no unused bits)
    // holding the DER ECDSA signature over exactly those bytes.
    const rest = der.subarray(der.indexOf(tbs) + tbs.length);
    expect(rest.subarray(0, 12).toString('hex')).toBe('300a06082a8648ce3d040302');
    expect(rest[12]).toBe(0x03);
    const signature = rest.subarray(rest[13]! < 0x80 ? 15 : 16);
    expect(rest[rest[13]! < 0x80 ? 14 : 15]).toBe(0x00);
    expect(verify('sha256', tbs, createPublicKey(GOLDEN_CA.certificatePem), signature)).toBe(true);
  });

  it('names the issuer with exactly the bytes of the CA certificate subject', async () => {
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    // PrintableString and UTF8String values, a multi-valued RDN, several RDNs.
    const name = new x509.Name([{ C: [{ printableString: 'FI' }] }, { O: [{ utf8String: 'Privgate Oy' }], OU: [{ printableString: 'PKI' }] }, { CN: [{ utf8String: 'Ärrä CA' }] }]);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + DAY),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const richCa: CertificateAuthority = {
      certificatePem: cert.toString('pem'),
      privateKeyPem: x509.PemConverter.encode(pkcs8.buffer.slice(pkcs8.byteOffset, pkcs8.byteOffset + pkcs8.byteLength) as ArrayBuffer, 'PRIVATE KEY'),
    };
    const { der } = await createCertificateRevocationList({ ca: richCa, revoked: [], thisUpdate, nextUpdate, crlNumber: 1 });
    const subject = Buffer.from(cert.subjectName.toArrayBuffer());
    const tbs = rawTbs(der);
    const tbsHeaderLength = tbs[1]! < 0x80 ? 2 : 2 + (tbs[1]! & 0x7f);
    expect(tbs.indexOf(subject)).toBe(tbsHeaderLength + 3 + 12); // after the header, version and algorithm
    expect(await new x509.X509Crl(der).verify({ publicKey: cert })).toBe(true);
  });

  it.runIf(HAS_OPENSSL)('is readable by openssl and revokes a certificate in openssl verify -crl_check', async () => {
    const good = await signCertificateSigningRequest({
      ca,
      csrPem: (await createCertificateSigningRequest({ commonName: 'good' })).csrPem,
      validityDays: 1,
      extendedKeyUsage: 'client',
    });
    const bad = await signCertificateSigningRequest({
      ca,
      csrPem: (await createCertificateSigningRequest({ commonName: 'bad' })).csrPem,
      validityDays: 1,
      extendedKeyUsage: 'client',
    });
    const now = Date.now();
    const { der, pem } = await createCertificateRevocationList({
      ca,
      revoked: [{ serial: bad.serial, revokedAt: new Date(now - 1000) }, { serial: '80', revokedAt: new Date(now - 1000) }],
      thisUpdate: new Date(now - 60_000),
      nextUpdate: new Date(now + DAY),
      crlNumber: 7,
    });
    const derFile = writeTemp('crl.der', der);
    const text = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', derFile, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toContain(`Serial Number: ${bad.serial.toUpperCase()}`);
    expect(text).toContain('Serial Number: 80');
    expect(text).not.toContain(good.serial.toUpperCase());
    expect(text).toMatch(/CRL Number: \n\s+7/);
    expect(text).toContain('Version 2');

    const caFile = writeTemp('crl-ca.pem', ca.certificatePem);
    const crlFile = writeTemp('crl.pem', pem);
    const sig = spawnSync('openssl', ['crl', '-in', crlFile, '-CAfile', caFile, '-noout'], { encoding: 'utf8' });
    expect(sig.status).toBe(0);
    expect(sig.stderr + sig.stdout).toMatch(/verify OK/);

    const goodFile = writeTemp('crl-good.pem', good.certificatePem);
    const badFile = writeTemp('crl-bad.pem', bad.certificatePem);
    const okRun = spawnSync('openssl', ['verify', '-crl_check', '-CRLfile', crlFile, '-CAfile', caFile, goodFile], { encoding: 'utf8' });
    expect(okRun.status).toBe(0);
    const revokedRun = spawnSync('openssl', ['verify', '-crl_check', '-CRLfile', crlFile, '-CAfile', caFile, badFile], { encoding: 'utf8' });
    expect(revokedRun.status).not.toBe(0);
    expect(revokedRun.stdout + revokedRun.stderr).toMatch(/certificate revoked/);
  });
});

describe('describeCertificate', () => {
  it('describes an ECDSA certificate', async () => {
    const issued = await issueServerCertificate({ ca, commonName: 'desc', dnsNames: ['desc.test'], ipAddresses: [], validityDays: 3 });
    const d = describeCertificate(issued.certificatePem);
    const node = new X509Certificate(issued.certificatePem);
    expect(d.subject).toBe('CN=desc');
    expect(d.issuer).toBe('CN=privgate test CA');
    expect(d.serial).toBe(node.serialNumber.toLowerCase());
    expect(d.notBefore.getTime()).toBe(new Date(node.validFrom).getTime());
    expect(d.notAfter.getTime()).toBe(new Date(node.validTo).getTime());
    expect(d.keyType).toBe('ECDSA');
    expect(d.keySize).toBe(256);
    expect(d.publicKeyPem).toBe(node.publicKey.export({ type: 'spki', format: 'pem' }));
    expect(d.fingerprints.sha1).toBe(node.fingerprint.replace(/:/g, '').toLowerCase());
    expect(d.fingerprints.sha256).toBe(node.fingerprint256.replace(/:/g, '').toLowerCase());
    expect(d.fingerprints.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(d.publicKeyString).toMatch(/^ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABB[A-Za-z0-9+/]+=*$/);
  });

  it.runIf(HAS_SSH_KEYGEN)('matches ssh-keygen for ECDSA and RSA keys', async () => {
    const rsaAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
    const rsaKeys = await webcrypto.subtle.generateKey(rsaAlg, true, ['sign', 'verify']);
    const rsaCert = await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=rsa', keys: rsaKeys, signingAlgorithm: rsaAlg });
    const ecCert = ca.certificatePem;
    for (const pem of [rsaCert.toString('pem'), ecCert]) {
      const d = describeCertificate(pem);
      const pubFile = writeTemp('pub.pem', d.publicKeyPem);
      const ssh = execFileSync('ssh-keygen', ['-i', '-m', 'PKCS8', '-f', pubFile], { encoding: 'utf8' }).trim();
      expect(d.publicKeyString).toBe(ssh);
    }
    expect(describeCertificate(rsaCert.toString('pem'))).toMatchObject({ keyType: 'RSA', keySize: 2048 });
  });

  it.runIf(HAS_OPENSSL)('describes an Ed25519 certificate made by openssl', () => {
    const keyFile = join(workDir, 'ed.key');
    const certFile = join(workDir, 'ed.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', '/CN=ed', '-days', '1'], {
      stdio: 'ignore',
    });
    const d = describeCertificate(execFileSync('cat', [certFile], { encoding: 'utf8' }));
    expect(d).toMatchObject({ keyType: 'Ed25519', keySize: 256, subject: 'CN=ed' });
    expect(d.publicKeyString).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=*$/);
  });

  it('throws on garbage', () => {
    expect(() => describeCertificate('not a certificate')).toThrow();
  });
});

describe('helpers', () => {
  it('normalizeSerialHex', () => {
    expect(normalizeSerialHex('00:FF')).toBe('ff');
    expect(normalizeSerialHex('0x123')).toBe('0123');
    expect(normalizeSerialHex('0')).toBe('00');
    expect(normalizeSerialHex('ABCDEF')).toBe('abcdef');
    expect(() => normalizeSerialHex('')).toThrow(TypeError);
    expect(() => normalizeSerialHex('12g4')).toThrow(TypeError);
  });

  it('canonicalIpAddress', () => {
    expect(canonicalIpAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(canonicalIpAddress('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(canonicalIpAddress('[::1]')).toBe('::1');
    expect(canonicalIpAddress('2001:DB8::0:1')).toBe('2001:db8::1');
    expect(canonicalIpAddress('::ffff:127.0.0.1')).toBe('::ffff:7f00:1');
    expect(canonicalIpAddress('fe80::1%eth0')).toBeNull();
    expect(canonicalIpAddress('localhost')).toBeNull();
    expect(canonicalIpAddress('1.2.3.256')).toBeNull();
  });

  it('isValidDnsName', () => {
    for (const ok of ['localhost', 'a.b.c', '*.example.com', 'xn--bcher-kva.example', 'host_name', 'trailing.dot.']) {
      expect(isValidDnsName(ok)).toBe(true);
    }
    for (const bad of ['', 'a b', 'a..b', '-a.b', 'a.*.b', '*', 'é.example', `${'a'.repeat(64)}.com`]) {
      expect(isValidDnsName(bad)).toBe(false);
    }
  });

  it('an IPv4-mapped IPv6 address survives issuance', async () => {
    const issued = await issueServerCertificate({ ca, commonName: 'm', dnsNames: [], ipAddresses: ['::ffff:10.0.0.1'], validityDays: 1 });
    expect(certificateSubjectAltNames(issued.certificatePem).ipAddresses).toEqual(['::ffff:a00:1']);
    expect(new X509Certificate(issued.certificatePem).subjectAltName).toContain('IP Address:0:0:0:0:0:FFFF:A00:1');
  });
});
