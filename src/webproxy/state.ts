/**
 * The web proxy's state directory (next to its config file unless told otherwise): the
 * credentials and certificate issued at registration, the private key, and the last good policy.
 *
 * The directory is mode 0700 and every file 0600. Files are replaced atomically (write a
 * temporary file, fsync, rename, fsync the directory), so a crash leaves either the old or the
 * new version, never a torn one. `credentials.json` is written last at registration: its
 * presence is what "registered" means.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { WebPolicy } from '../lib/web-policy.js';
import type { WebAuditEvent } from './audit-queue.js';
import { validateWebPolicy } from './decision.js';

export const CREDENTIALS_FILE = 'credentials.json';
export const PRIVATE_KEY_FILE = 'web-proxy-key.pem';
export const CERTIFICATE_FILE = 'web-proxy-cert.pem';
export const CA_CERTIFICATE_FILE = 'web-proxy-ca.pem';
export const POLICY_FILE = 'policy.json';
export const PENDING_AUDIT_FILE = 'audit-pending.json';

/** What registration issued; secrets, hence 0600. */
export interface StoredCredentials {
  trusted_client_id: string;
  oauth_client_id: string;
  oauth_client_secret: string;
  client_secret: string;
  /** RFC 3339. */
  registered_at: string;
  /** SHA-256 (hex) of the one-time secret used, so a new config (new secret) can be told apart. */
  registration_secret_sha256: string;
  control_plane_url: string;
}

/** The last good policy and the ETag it came with. */
export interface StoredPolicy {
  etag: string | null;
  /** RFC 3339 time the document was received from the control plane. */
  fetched_at: string;
  policy: WebPolicy;
}

/** SHA-256 hex of a registration secret (stored instead of the secret). */
export function secretFingerprint(secret: string): string {
  return crypto.createHash('sha256').update(secret, 'utf8').digest('hex');
}

function fsyncDirectory(directory: string): void {
  try {
    const handle = fs.openSync(directory, 'r');
    try {
      fs.fsyncSync(handle);
    } finally {
      fs.closeSync(handle);
    }
  } catch {
    // Not every platform can fsync a directory; the rename is still atomic.
  }
}

/** Replaces `file` with `data` atomically, mode 0600. */
export function writeFileAtomicSync(file: string, data: string): void {
  const temporary = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  const handle = fs.openSync(temporary, 'wx', 0o600);
  try {
    fs.writeFileSync(handle, data, 'utf8');
    fs.fsyncSync(handle);
  } finally {
    fs.closeSync(handle);
  }
  try {
    fs.chmodSync(temporary, 0o600);
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  fsyncDirectory(path.dirname(file));
}

/** The async form of {@link writeFileAtomicSync}, for writes on the request path's event loop. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const temporary = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  const handle = await fs.promises.open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.promises.chmod(temporary, 0o600);
    await fs.promises.rename(temporary, file);
  } catch (error) {
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
  fsyncDirectory(path.dirname(file));
}

function isCredentials(value: unknown): value is StoredCredentials {
  if (value === null || typeof value !== 'object') return false;
  const record = value as Record<string, unknown>;
  return ['trusted_client_id', 'oauth_client_id', 'oauth_client_secret', 'client_secret'].every(
    (key) => typeof record[key] === 'string' && (record[key] as string).length > 0,
  );
}

/** The state directory of one web proxy. */
export class StateDirectory {
  constructor(readonly directory: string) {}

  file(name: string): string {
    return path.join(this.directory, name);
  }

  /** Creates the directory (0700) if needed and tightens its mode if it was looser. */
  ensure(): void {
    fs.mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    fs.chmodSync(this.directory, 0o700);
  }

  /** The stored credentials, or null when not registered yet (or the file is unusable). */
  readCredentials(): StoredCredentials | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file(CREDENTIALS_FILE), 'utf8');
    } catch {
      return null;
    }
    try {
      const value: unknown = JSON.parse(text);
      return isCredentials(value) ? value : null;
    } catch {
      return null;
    }
  }

  /** Stores what registration issued; the credentials file goes last. */
  writeRegistration(material: { credentials: StoredCredentials; privateKeyPem: string; certificatePem: string; caCertificatePem: string }): void {
    this.ensure();
    writeFileAtomicSync(this.file(PRIVATE_KEY_FILE), material.privateKeyPem);
    writeFileAtomicSync(this.file(CERTIFICATE_FILE), material.certificatePem);
    writeFileAtomicSync(this.file(CA_CERTIFICATE_FILE), material.caCertificatePem);
    writeFileAtomicSync(this.file(CREDENTIALS_FILE), `${JSON.stringify(material.credentials, null, 2)}\n`);
  }

  /** The persisted policy; null when absent; throws when present but unusable (the caller logs it). */
  readPolicy(): StoredPolicy | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file(POLICY_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const value = JSON.parse(text) as Record<string, unknown>;
    const policy = validateWebPolicy(value.policy);
    const etag = typeof value.etag === 'string' ? value.etag : null;
    const fetchedAt = typeof value.fetched_at === 'string' && !Number.isNaN(Date.parse(value.fetched_at)) ? value.fetched_at : new Date(0).toISOString();
    return { etag, fetched_at: fetchedAt, policy };
  }

  /** Audit events a previous run could not deliver before it stopped; the file is removed once read. */
  takePendingAudit(): WebAuditEvent[] {
    const file = this.file(PENDING_AUDIT_FILE);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return [];
    }
    fs.rmSync(file, { force: true });
    try {
      const value: unknown = JSON.parse(text);
      return Array.isArray(value) ? value.filter((event): event is WebAuditEvent => event !== null && typeof event === 'object' && typeof (event as WebAuditEvent).type === 'string') : [];
    } catch {
      return [];
    }
  }

  /** Keeps undelivered audit events for the next run. */
  writePendingAudit(events: readonly WebAuditEvent[]): void {
    writeFileAtomicSync(this.file(PENDING_AUDIT_FILE), `${JSON.stringify(events)}\n`);
  }

  /** Persists the last good policy atomically. */
  async writePolicy(stored: StoredPolicy): Promise<void> {
    await writeFileAtomic(this.file(POLICY_FILE), `${JSON.stringify(stored)}\n`);
  }
}
