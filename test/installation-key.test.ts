import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { INSTALLATION_KEY_FILE, InstallationKey, InstallationKeyError, SealedValueError, loadCheckedInstallationKey, type KeyCheckStore } from '../src/installation-key.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'privgate-key-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('installation key', () => {
  it('seals and opens; the sealed text holds no plaintext and differs every time', () => {
    const key = InstallationKey.generate();
    const a = key.seal('s3cret-value', 'api_clients.secret:1');
    const b = key.seal('s3cret-value', 'api_clients.secret:1');
    expect(a).not.toBe(b);
    expect(a).not.toContain('s3cret');
    expect(a.startsWith(`pgk1.${key.id}.`)).toBe(true);
    expect(key.openText(a, 'api_clients.secret:1')).toBe('s3cret-value');
  });

  it('does not open for another context, another key, or after one bit changes', () => {
    const key = InstallationKey.generate();
    const sealed = key.seal('value', 'roles.key:1');
    expect(() => key.open(sealed, 'roles.key:2')).toThrow(SealedValueError);
    expect(() => InstallationKey.generate().open(sealed, 'roles.key:1')).toThrow(/does not have/);
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0]! ^= 1;
    const altered = [...parts.slice(0, 3), body.toString('base64url')].join('.');
    expect(() => key.open(altered, 'roles.key:1')).toThrow(SealedValueError);
    expect(() => key.open('plain text', 'roles.key:1')).toThrow('not a sealed value');
  });

  it('opens with an older key after rotation and seals with the new one', () => {
    const oldBytes = crypto.randomBytes(32);
    const newBytes = crypto.randomBytes(32);
    const before = InstallationKey.fromBytes(oldBytes);
    const sealed = before.seal('x', 'c');
    const after = InstallationKey.fromBytes(newBytes, oldBytes);
    expect(after.openText(sealed, 'c')).toBe('x');
    expect(after.isStale(sealed)).toBe(true);
    expect(after.isStale(after.seal('x', 'c'))).toBe(false);
  });

  it('creates DATA/installation.key once, mode 0600, and reads the same key after', () => {
    const dir = tempDir();
    const first = InstallationKey.load(dir, {});
    const file = path.join(dir, INSTALLATION_KEY_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const second = InstallationKey.load(dir, {});
    expect(second.id).toBe(first.id);
    expect(second.openText(first.seal('v', 'c'), 'c')).toBe('v');
    expect(fs.readdirSync(dir)).toEqual([INSTALLATION_KEY_FILE]);
  });

  it('takes the key from PRIVGATE_INSTALLATION_KEY or PRIVGATE_INSTALLATION_KEY_FILE, and rejects a bad one', () => {
    const dir = tempDir();
    const bytes = crypto.randomBytes(32);
    const inline = InstallationKey.load(dir, { PRIVGATE_INSTALLATION_KEY: bytes.toString('base64') });
    expect(inline.id).toBe(InstallationKey.fromBytes(bytes).id);
    expect(fs.existsSync(path.join(dir, INSTALLATION_KEY_FILE))).toBe(false);
    const file = path.join(dir, 'k');
    fs.writeFileSync(file, `# rotated 2026-12\n${crypto.randomBytes(32).toString('base64')}\n${bytes.toString('base64')}\n`);
    const fromFile = InstallationKey.load(dir, { PRIVGATE_INSTALLATION_KEY_FILE: file });
    expect(fromFile.openText(inline.seal('v', 'c'), 'c')).toBe('v');
    expect(() => InstallationKey.load(dir, { PRIVGATE_INSTALLATION_KEY: 'c2hvcnQ=' })).toThrow(InstallationKeyError);
    expect(() => InstallationKey.load(dir, { PRIVGATE_INSTALLATION_KEY_FILE: path.join(dir, 'missing') })).toThrow(/cannot read/);
  });

  it('refuses a database sealed under another key, naming key ids only', () => {
    const key = InstallationKey.generate();
    const check = key.checkAgainst(undefined);
    expect(check).toBeDefined();
    expect(key.checkAgainst(check)).toBeUndefined();
    const other = InstallationKey.generate();
    expect(() => other.checkAgainst(check)).toThrow(new RegExp(`sealed with installation key ${key.id}`));
  });
});

describe('loadCheckedInstallationKey', () => {
  function mapStore(): KeyCheckStore & { rows: Map<string, string> } {
    const rows = new Map<string, string>();
    return {
      rows,
      read: async (key) => rows.get(key),
      insertIfAbsent: async (key, value) => {
        if (!rows.has(key)) rows.set(key, value);
        return rows.get(key)!;
      },
    };
  }

  it('records a check value on first start; a node with the same key file starts, one with another key does not', async () => {
    const store = mapStore();
    const dir = tempDir();
    const first = await loadCheckedInstallationKey(store, dir, {});
    expect([...store.rows.keys()]).toEqual(['installation_key_check']);
    expect(store.rows.get('installation_key_check')).not.toContain('privgate');
    const again = await loadCheckedInstallationKey(store, dir, {});
    expect(again.id).toBe(first.id);
    await expect(loadCheckedInstallationKey(store, tempDir(), {})).rejects.toThrow(InstallationKeyError);
  });
});
