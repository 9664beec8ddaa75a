import type { Kysely } from 'kysely';
import type { Tables } from '../../db/schema.js';
import { PrivxError } from '../../errors.js';
import { bumpPolicyVersion } from '../host-store/policy-version-repository.js';
import { recordAuditEvent } from '../monitor-service/audit-log.js';
import { settingsChanged } from './effective.js';
import { restartRequired, type SettingsScope, type SettingsSection } from './registry.js';
import { compareAndSwapSection, readScope, versionTag, type SectionState, type SettingsActor, type VersionCondition } from './repository.js';

const MAX_ATTEMPTS = 20;

function declaredKeys(section: SettingsSection): Set<string> {
  return new Set(Object.keys(section.schema.properties));
}

/**
 * What the audit event keeps of a value: the declared keys. Other PrivX settings an open section
 * stores may hold anything (a bind password), so the event names the ones that changed instead.
 */
function audited(section: SettingsSection, value: unknown): unknown {
  if (!section.openKeys || typeof value !== 'object' || value === null) return value;
  const declared = declaredKeys(section);
  return Object.fromEntries(Object.entries(value).filter(([key]) => declared.has(key)));
}

function otherKeysChanged(section: SettingsSection, before: unknown, after: unknown): string[] {
  const declared = declaredKeys(section);
  const entries = (value: unknown) => new Map(typeof value === 'object' && value !== null ? Object.entries(value).filter(([key]) => !declared.has(key)) : []);
  const was = entries(before);
  const is = entries(after);
  const keys = new Set([...was.keys(), ...is.keys()]);
  return [...keys].filter((key) => JSON.stringify(was.get(key)) !== JSON.stringify(is.get(key))).sort();
}

class StaleVersion extends Error {}

/**
 * Replaces the given sections of a scope (each value complete and already validated) in one
 * transaction, with a `settings_changed` audit event per section and a policy-version bump.
 * Returns the new states.
 *
 * A change conditioned on a version (`If-Match`) that is no longer current, before or during the
 * write, fails with 409 CONFLICT and changes nothing; an unconditioned change re-reads and
 * retries, so it is last-write-wins but never loses a version step or an audit record.
 */
export async function changeSettings(
  db: Kysely<Tables>,
  scope: SettingsScope,
  values: ReadonlyArray<{ section: SettingsSection; value: unknown }>,
  condition: VersionCondition | undefined,
  actor: SettingsActor,
): Promise<Map<string, SectionState>> {
  for (let attempt = 1; ; attempt += 1) {
    const current = await readScope(db, scope);
    const before = values.map(({ section }) => current.get(section.name) as SectionState);
    if (condition !== undefined && condition !== '*' && !condition.includes(versionTag(before))) {
      throw new PrivxError(409, 'CONFLICT', `the settings changed since they were read (current version ${versionTag(before)})`);
    }
    try {
      const written = await db.transaction().execute(async (trx) => {
        const after = new Map<string, SectionState>();
        for (const [index, { section, value }] of values.entries()) {
          const previous = before[index] as SectionState;
          const version = await compareAndSwapSection(trx, scope, section, previous, value, actor);
          if (version === undefined) throw new StaleVersion();
          after.set(section.name, { value, version, stored: true });
          await recordAuditEvent(trx, {
            type: 'settings_changed',
            outcome: 'success',
            principal: actor.principal,
            objectType: 'settings',
            objectId: `${scope.name}/${section.name}`,
            details: {
              scope: scope.name,
              section: section.name,
              version,
              previous_version: previous.version,
              before: audited(section, previous.value),
              after: audited(section, value),
              ...(section.openKeys ? { other_keys_changed: otherKeysChanged(section, previous.value, value) } : {}),
              changed_by: { type: actor.principal.type, id: actor.principal.id, name: actor.principal.name },
            },
            at: actor.at,
          });
        }
        await bumpPolicyVersion(trx);
        return after;
      });
      settingsChanged(db);
      return written;
    } catch (error) {
      if (!(error instanceof StaleVersion)) throw error;
      if (condition !== undefined && condition !== '*') {
        throw new PrivxError(409, 'CONFLICT', 'the settings changed since they were read (concurrent update)');
      }
      if (attempt >= MAX_ATTEMPTS) throw new PrivxError(409, 'CONFLICT', 'the settings are being changed concurrently; try again');
    }
  }
}

/**
 * `POST /restart_required/{scope}`: whether applying `values` (some sections of the scope) would
 * need the nodes restarted, per section (see restartRequired in registry.ts). Changes nothing.
 */
export async function checkRestartRequired(
  db: Kysely<Tables>,
  scope: SettingsScope,
  values: Readonly<Record<string, unknown>>,
): Promise<{ restart_required: boolean; sections: Record<string, boolean> }> {
  const current = await readScope(db, scope);
  return restartRequired(scope, values, new Map([...current].map(([name, state]) => [name, state.value])));
}
