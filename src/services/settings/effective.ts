import type { Kysely } from 'kysely';
import type { Config } from '../../config.js';
import type { Tables } from '../../db/schema.js';
import { requireSection, type SettingsScope, type SettingsSection } from './registry.js';
import { readSection, readSectionNow } from './repository.js';

/**
 * How stale a node's view of a setting changed on ANOTHER node may be, in milliseconds, where the
 * database cannot be asked without waiting (PostgreSQL, the fast path off). On SQLite's read
 * connection every read sees the last commit; a change made on this node is seen at once everywhere.
 */
export const SETTINGS_PROPAGATION_MS = 1000;

/** Bumped by every settings change committed through this process, per database handle. */
const changeGenerations = new WeakMap<Kysely<Tables>, number>();

/** Called by the settings use case once a change committed: this node's readers read again. */
export function settingsChanged(db: Kysely<Tables>): void {
  changeGenerations.set(db, (changeGenerations.get(db) ?? 0) + 1);
}

interface Remembered {
  value: Record<string, unknown>;
  /** performance.now() before the read. */
  readAt: number;
  generation: number;
}

/** What `context` must offer: the database and the bootstrap overrides. */
export interface EffectiveSettingsContext {
  config: Pick<Config, 'settingsOverrides'>;
  database: { db: Kysely<Tables> };
}

/**
 * The settings privgate acts on, as in force now: an environment variable that is set overrides
 * the stored setting, which overrides the built-in default (docs/settings.md). Cheap enough for
 * the token path: SQLite's read connection answers without waiting (re-reading only after a
 * commit, see readSectionNow); elsewhere the last read is reused for at most
 * {@link SETTINGS_PROPAGATION_MS}, and not at all after a change on this node.
 */
export class EffectiveSettings {
  readonly #remembered = new Map<SettingsSection, Remembered>();
  readonly #tokens = requireSection('auth', 'tokens');
  readonly #loginThrottle = requireSection('auth', 'login_throttle');
  readonly #sessions = requireSection('authorizer', 'sessions');
  readonly #audit = requireSection('monitor-service', 'audit');

  constructor(private readonly context: EffectiveSettingsContext) {}

  private async section({ scope, section }: { scope: SettingsScope; section: SettingsSection }): Promise<Record<string, unknown>> {
    const db = this.context.database.db;
    const now = readSectionNow(db, scope, section);
    const stored = now ? (now.value as Record<string, unknown>) : await this.remembered(db, scope, section);
    return this.overridden(section, stored);
  }

  private async remembered(db: Kysely<Tables>, scope: SettingsScope, section: SettingsSection): Promise<Record<string, unknown>> {
    const generation = changeGenerations.get(db) ?? 0;
    const known = this.#remembered.get(section);
    if (known && known.generation === generation && performance.now() - known.readAt < SETTINGS_PROPAGATION_MS) return known.value;
    const readAt = performance.now();
    const value = (await readSection(db, scope, section)).value as Record<string, unknown>;
    this.#remembered.set(section, { value, readAt, generation });
    return value;
  }

  private overridden(section: SettingsSection, stored: Record<string, unknown>): Record<string, unknown> {
    const overrides = this.context.config.settingsOverrides;
    let value = stored;
    for (const [key, variable] of Object.entries(section.env)) {
      const override = overrides[variable];
      if (override !== undefined) value = { ...value, [key]: override };
    }
    return value;
  }

  /** Lifetimes of tokens issued now, in seconds. */
  async tokenLifetimes(): Promise<{ accessTokenTtlSeconds: number; refreshTokenTtlSeconds: number }> {
    const value = await this.section(this.#tokens);
    return { accessTokenTtlSeconds: Number(value.access_token_ttl_seconds), refreshTokenTtlSeconds: Number(value.refresh_token_ttl_seconds) };
  }

  /** The failed-login throttle's limits. */
  async loginThrottle(): Promise<{ perAccount: number; perAddress: number; windowSeconds: number }> {
    const value = await this.section(this.#loginThrottle);
    return { perAccount: Number(value.per_account), perAddress: Number(value.per_address), windowSeconds: Number(value.window_seconds) };
  }

  /** Lifetimes of web sessions and config-download sessions opened now, in seconds. */
  async sessionLifetimes(): Promise<{ webSessionTtlSeconds: number; configSessionTtlSeconds: number }> {
    const value = await this.section(this.#sessions);
    return { webSessionTtlSeconds: Number(value.web_session_ttl_seconds), configSessionTtlSeconds: Number(value.config_session_ttl_seconds) };
  }

  /** Days audit events are kept; 0 = forever. */
  async auditRetentionDays(): Promise<number> {
    return Number((await this.section(this.#audit)).retention_days);
  }
}

const perContext = new WeakMap<EffectiveSettingsContext, EffectiveSettings>();

/** The {@link EffectiveSettings} of an app's context (one per context, so its memory is shared). */
export function effectiveSettings(context: EffectiveSettingsContext): EffectiveSettings {
  let settings = perContext.get(context);
  if (!settings) perContext.set(context, (settings = new EffectiveSettings(context)));
  return settings;
}
