import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { addAdminRoleMember, ensurePolicyVersionCounter, insertUserIfAbsent, userExists } from './bootstrap-repository.js';
import { metaStore } from './db/meta-repository.js';
import type { Tables } from './db/schema.js';
import { hashPassword, randomToken } from './lib/secrets.js';
import { timestamp } from './lib/time.js';
import type { Clock } from './lib/time.js';
import { ensureBuiltinRoles } from './services/role-store/repository.js';

export const ADMIN_USERNAME = 'admin';
export const INITIAL_ADMIN_PASSWORD_FILE = 'initial-admin-password';

/** Reads the secret-hashing key from the environment, or creates/reads the installation's own. */
export async function loadSecretKey(db: Kysely<Tables>, env: NodeJS.ProcessEnv = process.env): Promise<Buffer> {
  const fromEnv = env.PRIVGATE_SECRET_KEY;
  if (fromEnv) {
    const key = Buffer.from(fromEnv, 'base64');
    if (key.length < 32) throw new Error('PRIVGATE_SECRET_KEY must be at least 32 bytes, base64');
    return key;
  }
  const value = await metaStore(db).insertIfAbsent('secret_hash_key', crypto.randomBytes(32).toString('base64'));
  return Buffer.from(value, 'base64');
}

/**
 * First-start set-up, safe to run on every start and on several nodes at once: the built-in
 * roles, the policy counter, and the `admin` user with PRIVGATE_ADMIN_PASSWORD or a generated
 * password written once to DATA/initial-admin-password (mode 0600).
 */
export async function bootstrapInstallation(options: {
  db: Kysely<Tables>;
  clock: Clock;
  dataDir: string;
  initialAdminPassword: string | undefined;
  log: { info(message: string): void; warn(message: string): void };
}): Promise<void> {
  const { db, clock } = options;
  const now = clock.now();
  await ensureBuiltinRoles(db, now);
  await ensurePolicyVersionCounter(db);

  if (await userExists(db, ADMIN_USERNAME)) return;
  const generated = options.initialAdminPassword === undefined;
  const password = options.initialAdminPassword ?? randomToken(18);
  const id = crypto.randomUUID();
  const at = timestamp(now);
  const inserted = await insertUserIfAbsent(db, {
    id,
    username: ADMIN_USERNAME,
    email: '',
    full_name: 'Built-in administrator',
    password_hash: await hashPassword(password),
    password_created: at,
    disabled: 0,
    builtin: 1,
    created: at,
    updated: at,
    author: 'system',
  });
  // Another node won the race; its password is the one in force.
  if (!inserted) return;
  await addAdminRoleMember(db, id, at);
  if (generated) {
    fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(options.dataDir, INITIAL_ADMIN_PASSWORD_FILE);
    fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
    options.log.warn(`created built-in user "admin"; its generated password is in ${file}`);
  } else {
    options.log.info('created built-in user "admin" with the password from PRIVGATE_ADMIN_PASSWORD');
  }
}
