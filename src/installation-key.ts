/**
 * The installation key: what seals the secrets privgate must read back (API-client secrets, role
 * principal keys, access-group CA keys, later the vault) so that a copy of the database alone
 * reveals none of them.
 *
 * The key is never in the database. It comes from `PRIVGATE_INSTALLATION_KEY` (base64 of 32 bytes),
 * or from the file `PRIVGATE_INSTALLATION_KEY_FILE` names, or from `DATA/installation.key`, which the
 * first start creates (mode 0600). Every node of one installation needs the same key: nodes on one
 * PostgreSQL share it through that file or the variable, and a node whose key cannot open what the
 * database holds refuses to start (see {@link InstallationKey.checkAgainst}).
 *
 * A key file holds one base64 key per line; the first seals, all of them open, so a key is rotated
 * by putting the new one first and re-sealing (`privgate` keeps the old ones until then).
 *
 * Sealed values are `pgk1.<key id>.<iv>.<ciphertext and tag>` (base64url): AES-256-GCM with a fresh
 * 96-bit IV, authenticated together with a context string naming where the value lives (table,
 * column and row), so a sealed value copied to another row or column does not open.
 *
 * @module
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const INSTALLATION_KEY_FILE = 'installation.key';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = 'pgk1';

/** A sealed value that does not open: wrong key, wrong context, or altered. */
export class SealedValueError extends Error {
  override name = 'SealedValueError';
}

/** The installation key cannot be loaded or does not match the database. */
export class InstallationKeyError extends Error {
  override name = 'InstallationKeyError';
}

interface Key {
  id: string;
  secret: Buffer;
}

function keyId(secret: Buffer): string {
  return crypto.createHash('sha256').update('privgate installation key id\0').update(secret).digest('base64url').slice(0, 11);
}

function parseKey(text: string, source: string): Key {
  const secret = Buffer.from(text.trim(), 'base64');
  if (secret.length !== KEY_BYTES || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(text.trim())) {
    throw new InstallationKeyError(`${source} must be the base64 encoding of ${KEY_BYTES} random bytes`);
  }
  return { id: keyId(secret), secret };
}

export class InstallationKey {
  readonly #keys: readonly Key[];

  private constructor(keys: readonly Key[]) {
    if (keys.length === 0) throw new InstallationKeyError('an installation key needs at least one key');
    this.#keys = keys;
  }

  /** A key from raw bytes (tests, and the loaders below). The first seals; the rest only open. */
  static fromBytes(...secrets: Buffer[]): InstallationKey {
    return new InstallationKey(
      secrets.map((secret) => {
        if (secret.length !== KEY_BYTES) throw new InstallationKeyError(`an installation key is ${KEY_BYTES} bytes`);
        return { id: keyId(secret), secret: Buffer.from(secret) };
      }),
    );
  }

  /** A fresh random key (tests). */
  static generate(): InstallationKey {
    return InstallationKey.fromBytes(crypto.randomBytes(KEY_BYTES));
  }

  /**
   * The key this node uses: `PRIVGATE_INSTALLATION_KEY`, else the file `PRIVGATE_INSTALLATION_KEY_FILE`,
   * else `DATA/installation.key`, created with a new random key when absent (several nodes starting
   * on one data directory at once agree on one: the file appears whole, by link, or not at all).
   */
  static load(dataDir: string, env: NodeJS.ProcessEnv = process.env): InstallationKey {
    const inline = env.PRIVGATE_INSTALLATION_KEY;
    if (inline) return new InstallationKey([parseKey(inline, 'PRIVGATE_INSTALLATION_KEY')]);
    const named = env.PRIVGATE_INSTALLATION_KEY_FILE;
    if (named) return InstallationKey.#readFile(path.resolve(named), 'PRIVGATE_INSTALLATION_KEY_FILE');
    const file = path.join(dataDir, INSTALLATION_KEY_FILE);
    if (!fs.existsSync(file)) InstallationKey.#create(file);
    return InstallationKey.#readFile(file, file);
  }

  static #create(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}`;
    fs.writeFileSync(temporary, `${crypto.randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      fs.linkSync(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      fs.rmSync(temporary, { force: true });
    }
  }

  static #readFile(file: string, source: string): InstallationKey {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new InstallationKeyError(`cannot read the installation key ${source}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
    return new InstallationKey(lines.map((line, index) => parseKey(line, `line ${index + 1} of ${source}`)));
  }

  /** The id of the key that seals (not secret: a truncated hash). */
  get id(): string {
    return this.#keys[0]!.id;
  }

  /** `plaintext` sealed for the place `context` names. */
  seal(plaintext: string | Buffer, context: string): string {
    const key = this.#keys[0]!;
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', key.secret, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return `${FORMAT}.${key.id}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /**
   * The plaintext of a value {@link seal}ed for `context`.
   *
   * @throws SealedValueError when it is not a sealed value, was sealed by a key this node lacks,
   *   for another context, or was altered. The message names the key id, never any content.
   */
  open(sealed: string, context: string): Buffer {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== FORMAT) throw new SealedValueError('not a sealed value');
    const key = this.#keys.find((candidate) => candidate.id === parts[1]);
    if (!key) throw new SealedValueError(`sealed by installation key ${parts[1]}, which this node does not have`);
    const iv = Buffer.from(parts[2]!, 'base64url');
    const body = Buffer.from(parts[3]!, 'base64url');
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new SealedValueError('not a sealed value');
    const decipher = crypto.createDecipheriv('aes-256-gcm', key.secret, iv);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new SealedValueError('a sealed value does not open: altered, or sealed for another place');
    }
  }

  /** {@link open} as UTF-8 text. */
  openText(sealed: string, context: string): string {
    return this.open(sealed, context).toString('utf8');
  }

  /** Whether `sealed` was sealed by a key other than the current one (re-seal it). */
  isStale(sealed: string): boolean {
    return sealed.split('.')[1] !== this.id;
  }

  /**
   * Checks this key against the database's check value (`stored`, from the meta table): the check
   * value to store when there is none yet, or nothing when it opens.
   *
   * @throws InstallationKeyError when the database was sealed under a key this node does not have.
   */
  checkAgainst(stored: string | undefined): string | undefined {
    if (stored === undefined) return this.seal(CHECK_PLAINTEXT, CHECK_CONTEXT);
    try {
      if (this.openText(stored, CHECK_CONTEXT) === CHECK_PLAINTEXT) return undefined;
    } catch {
      // fall through
    }
    const sealedBy = stored.split('.')[1] ?? 'unknown';
    throw new InstallationKeyError(
      `this database's secrets are sealed with installation key ${sealedBy}, and this node has ${this.#keys.map((key) => key.id).join(', ')}: ` +
        'give every node the same key (PRIVGATE_INSTALLATION_KEY_FILE or PRIVGATE_INSTALLATION_KEY)',
    );
  }
}

const CHECK_PLAINTEXT = 'privgate installation key check';
const CHECK_META_KEY = 'installation_key_check';

/** Where the database's check value lives (the meta table; see src/db/meta-repository.ts). */
export interface KeyCheckStore {
  read(key: string): Promise<string | undefined>;
  insertIfAbsent(key: string, value: string): Promise<string>;
}

/**
 * This node's installation key ({@link InstallationKey.load}), checked against the database: the
 * first node to start records a check value; a node whose key cannot open it refuses to start.
 */
export async function loadCheckedInstallationKey(store: KeyCheckStore, dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<InstallationKey> {
  const key = InstallationKey.load(dataDir, env);
  const fresh = key.checkAgainst(await store.read(CHECK_META_KEY));
  if (fresh !== undefined) key.checkAgainst(await store.insertIfAbsent(CHECK_META_KEY, fresh));
  return key;
}
const CHECK_CONTEXT = 'meta.installation_key_check';
