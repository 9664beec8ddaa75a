/**
 * A self-managed local CA and server certificate on disk, for running privgate over HTTPS without
 * any external PKI.
 *
 * @module
 */
import { X509Certificate as NodeX509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, issueServerCertificate } from './lib/pki/ca.js';
import { canonicalIpAddress, certificateSubjectAltNames, isValidDnsName } from './lib/pki/subject-alt-names.js';

/** File names inside the TLS directory. */
export const TLS_FILE_NAMES = Object.freeze({
  caCertificate: 'ca.pem',
  caKey: 'ca-key.pem',
  serverCertificate: 'server.pem',
  serverKey: 'server-key.pem',
});

/** Options of {@link ensureLocalTls}. */
export interface EnsureLocalTlsOptions {
  /** Directory holding the four PEM files; created with mode 0700 when missing. */
  directory: string;
  /** Additional server names (DNS names or IP addresses) beyond localhost, 127.0.0.1, ::1 and the host name. */
  extraNames?: readonly string[];
  /** Common name of a newly created CA. Default `privgate local CA`. */
  caCommonName?: string;
  /** Validity of a newly created CA in days. Default 3650. */
  caValidityDays?: number;
  /** Validity of a newly issued server certificate in days. Default 365. */
  serverValidityDays?: number;
  /** Re-issue the server certificate when it expires within this many days. Default 30. */
  renewBeforeDays?: number;
  /** Current time (for tests). Default now. */
  now?: Date;
  /** Host name to include (for tests). Default `os.hostname()`. */
  hostName?: string;
}

/** Result of {@link ensureLocalTls}. */
export interface LocalTls {
  /** CA certificate PEM (what clients should trust). */
  caPem: string;
  /** Server certificate PEM. */
  certPem: string;
  /** Server private key PEM. */
  keyPem: string;
  /** True when the CA (and therefore everything) was created by this call. */
  created: boolean;
  /** True when a server certificate was issued by this call (first run, new name, near expiry, or unusable files). */
  serverCertificateIssued: boolean;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Required server names, split into DNS names (lower case) and canonical IP addresses. */
function requiredNames(options: EnsureLocalTlsOptions): { dnsNames: string[]; ipAddresses: string[] } {
  const dns = new Set<string>(['localhost']);
  const ips = new Set<string>(['127.0.0.1', '::1']);
  const host = (options.hostName ?? hostname()).trim();
  const classify = (name: string, strict: boolean): void => {
    const ip = canonicalIpAddress(name);
    if (ip !== null) {
      ips.add(ip);
      return;
    }
    const dnsName = name.toLowerCase().replace(/\.$/, '');
    if (isValidDnsName(dnsName)) dns.add(dnsName);
    else if (strict) throw new TypeError(`not a DNS name or IP address: ${JSON.stringify(name)}`);
  };
  if (host.length > 0) classify(host, false); // an odd host name is skipped, not fatal
  for (const raw of options.extraNames ?? []) {
    if (typeof raw !== 'string') throw new TypeError('extraNames must be strings');
    const name = raw.trim();
    if (name.length > 0) classify(name, true);
  }
  return { dnsNames: [...dns], ipAddresses: [...ips] };
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Writes a file atomically (temporary file + rename) with the given mode. */
async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, data, { mode, flag: 'wx' });
    await chmod(temporary, mode); // the umask may have removed bits
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  try {
    return new NodeX509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** Whether the existing server certificate can be kept. */
function serverCertificateUsable(
  caPem: string,
  certPem: string,
  keyPem: string,
  names: { dnsNames: string[]; ipAddresses: string[] },
  renewAfter: Date,
): boolean {
  try {
    const ca = new NodeX509Certificate(caPem);
    const cert = new NodeX509Certificate(certPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
    if (!keyMatchesCertificate(certPem, keyPem)) return false;
    if (new Date(cert.validTo).getTime() <= renewAfter.getTime()) return false;
    const present = certificateSubjectAltNames(certPem);
    const dns = new Set(present.dnsNames);
    const ips = new Set(present.ipAddresses);
    return names.dnsNames.every((n) => dns.has(n)) && names.ipAddresses.every((ip) => ips.has(ip));
  } catch {
    return false;
  }
}

/**
 * Makes sure `directory` holds a local CA (`ca.pem`, `ca-key.pem`) and a server certificate signed
 * by it (`server.pem`, `server-key.pem`), and returns them.
 *
 * - First call: creates the directory (mode 0700) and all four files; key files get mode 0600,
 *   certificates 0644. Files are written atomically, keys before certificates.
 * - Later calls reuse the files. The CA is never regenerated once `ca.pem` exists; the server
 *   certificate alone is re-issued from the existing CA when it lacks one of the required names,
 *   expires within `renewBeforeDays` (30), is not signed by the CA, or does not match its key.
 *
 * Server subjectAltNames: `localhost`, `127.0.0.1`, `::1`, `os.hostname()` and `extraNames`, each
 * classified as an IP address or a DNS name. When re-issuing, the names already in the old
 * certificate are kept as well, so names are only ever added.
 *
 * @throws TypeError when an extra name is neither a DNS name nor an IP address; Error when `ca.pem`
 *   exists but `ca-key.pem` is missing or does not match it (never silently replaces a CA).
 */
export async function ensureLocalTls(options: EnsureLocalTlsOptions): Promise<LocalTls> {
  const now = options.now ?? new Date();
  const renewBeforeDays = options.renewBeforeDays ?? 30;
  const names = requiredNames(options);
  const dir = options.directory;

  const made = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (made !== undefined) await chmod(dir, 0o700);
  else if (!(await stat(dir)).isDirectory()) throw new Error(`${dir} is not a directory`);

  // Two nodes sharing a data directory may start together: without the lock each would make its
  // own CA, and one of them would serve a certificate that the published ca.pem does not sign.
  return withDirectoryLock(dir, () => ensureLocalTlsLocked(options, dir, names, now, renewBeforeDays));
}

const LOCK_FILE = '.lock';
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 60_000;

/** Runs `work` while holding `dir/.lock` (O_EXCL create); a lock older than 30 s is a crashed holder's. */
async function withDirectoryLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const lockPath = join(dir, LOCK_FILE);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: 'wx', mode: 0o600 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = await stat(lockPath).then((info) => Date.now() - info.mtimeMs, () => 0);
      if (age > STALE_LOCK_MS) await unlink(lockPath).catch(() => undefined);
      else if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockPath}`);
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await work();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

async function ensureLocalTlsLocked(options: EnsureLocalTlsOptions, dir: string, names: ReturnType<typeof requiredNames>, now: Date, renewBeforeDays: number): Promise<LocalTls> {
  const caPath = join(dir, TLS_FILE_NAMES.caCertificate);
  const caKeyPath = join(dir, TLS_FILE_NAMES.caKey);
  const certPath = join(dir, TLS_FILE_NAMES.serverCertificate);
  const keyPath = join(dir, TLS_FILE_NAMES.serverKey);

  let caPem = await readIfExists(caPath);
  let caKeyPem = await readIfExists(caKeyPath);
  let created = false;
  if (caPem !== null) {
    if (caKeyPem === null) throw new Error(`${caPath} exists but ${caKeyPath} is missing`);
    if (!keyMatchesCertificate(caPem, caKeyPem)) throw new Error(`${caKeyPath} does not match ${caPath}`);
  } else {
    // No CA certificate was ever published (a lone ca-key.pem is a leftover of an interrupted run).
    const ca = await createCertificateAuthority({
      commonName: options.caCommonName ?? 'privgate local CA',
      validityDays: options.caValidityDays ?? 3650,
    });
    caPem = ca.certificatePem;
    caKeyPem = ca.privateKeyPem;
    await writeFileAtomic(caKeyPath, caKeyPem, 0o600);
    await writeFileAtomic(caPath, caPem, 0o644);
    created = true;
  }

  let certPem = created ? null : await readIfExists(certPath);
  let keyPem = created ? null : await readIfExists(keyPath);
  const renewAfter = new Date(now.getTime() + renewBeforeDays * DAY_MS);
  if (certPem !== null && keyPem !== null && serverCertificateUsable(caPem, certPem, keyPem, names, renewAfter)) {
    return { caPem, certPem, keyPem, created, serverCertificateIssued: false };
  }

  // Keep whatever names the previous certificate had, so re-issuing never drops a name.
  const dnsNames = new Set(names.dnsNames);
  const ipAddresses = new Set(names.ipAddresses);
  if (certPem !== null) {
    try {
      const old = certificateSubjectAltNames(certPem);
      for (const n of old.dnsNames) if (isValidDnsName(n)) dnsNames.add(n);
      for (const ip of old.ipAddresses) ipAddresses.add(ip);
    } catch {
      // unreadable old certificate: start from the required names
    }
  }
  const server = await issueServerCertificate({
    ca: { certificatePem: caPem, privateKeyPem: caKeyPem },
    commonName: names.dnsNames.find((n) => n !== 'localhost' && n.length <= 64) ?? 'localhost',
    dnsNames: [...dnsNames],
    ipAddresses: [...ipAddresses],
    validityDays: options.serverValidityDays ?? 365,
  });
  certPem = server.certificatePem;
  keyPem = server.privateKeyPem;
  await writeFileAtomic(keyPath, keyPem, 0o600);
  await writeFileAtomic(certPath, certPem, 0o644);
  return { caPem, certPem, keyPem, created, serverCertificateIssued: true };
}
