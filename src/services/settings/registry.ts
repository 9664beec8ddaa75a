import { Type, type Static, type TObject } from '@sinclair/typebox';
import { BUILT_IN_SETTINGS } from '../../config.js';
import { DEFAULT_SERVICE_OPTIONS } from '../../lib/service-options.js';
import { ServiceOptionsSchema } from '../host-store/schemas.js';

/**
 * One settings section: a TypeBox object schema (it validates PUT bodies and serialises GET
 * answers) and the value in force until the first PUT.
 */
export interface SettingsSection {
  readonly name: string;
  readonly description: string;
  readonly schema: TObject;
  readonly defaults: unknown;
  /** Whether privgate acts on the declared keys (false: stored and returned only). */
  readonly actedOn: boolean;
  /** Whether a change takes effect only after the nodes restart (none does today: every acted-on value is read live). */
  readonly restartRequired: boolean;
  /**
   * Whether keys the schema does not declare are accepted, stored and returned (other PrivX
   * settings, never acted on): the schema's top level has `additionalProperties: true`. Declared
   * keys are validated either way.
   */
  readonly openKeys: boolean;
  /** Declared key → the environment variable that overrides it (docs/settings.md). */
  readonly env: Readonly<Record<string, string>>;
}

export interface SectionOptions {
  actedOn?: boolean;
  restartRequired?: boolean;
  env?: Readonly<Record<string, string>>;
}

/** A settings scope (`/settings/api/v1/settings/{scope}`): a named group of sections. */
export interface SettingsScope {
  readonly name: string;
  readonly description: string;
  readonly sections: readonly SettingsSection[];
}

/** Declares a section; the type parameter ties the defaults to the schema. Acted on, closed and live unless `options` say otherwise. */
export function defineSection<T extends TObject>(name: string, description: string, schema: T, defaults: Static<T>, options: SectionOptions = {}): SettingsSection {
  return { name, description, schema, defaults, actedOn: options.actedOn ?? true, restartRequired: options.restartRequired ?? false, openKeys: schema.additionalProperties === true, env: options.env ?? {} };
}

/**
 * The longest lifetimes the settings allow. What must outlive every token issued under some
 * setting — revocation rows, retired signing keys — is kept this long (or the bootstrap value's,
 * if longer), so lowering a lifetime never lets a revoked token issued before revive.
 */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 24 * 3600;
export const MAX_REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
export const MAX_WEB_SESSION_TTL_SECONDS = 24 * 3600;

const seconds = (minimum: number, maximum: number, description: string) => Type.Integer({ minimum, maximum, description });

/** A section for a PrivX service's other settings: any object, stored and returned, not acted on. */
function otherSettings(service: string): SettingsSection {
  return defineSection(
    'general',
    `Other ${service} settings as PrivX clients send them: stored and returned, not acted on by privgate`,
    Type.Object({}, { additionalProperties: true }),
    {},
    { actedOn: false },
  );
}

/**
 * Every scope privgate serves. To add settings, declare a section (schema + default) in a scope
 * here; the routes, validation, storage, versioning and audit follow from the declaration.
 * Declared keys are required and carry no `default` keyword, so a PUT is always the complete
 * object; nested objects are closed (`additionalProperties: false`). An open section
 * (`openKeys`) also keeps undeclared top-level keys — PrivX settings privgate does not act on.
 */
export const SETTINGS_SCOPES: readonly SettingsScope[] = [
  {
    name: 'auth',
    description: 'Authentication: token lifetimes and the failed-login throttle',
    sections: [
      defineSection(
        'tokens',
        'OAuth2 token lifetimes. Applies to tokens issued after the change; issued tokens keep their expiry',
        Type.Object(
          {
            access_token_ttl_seconds: seconds(30, MAX_ACCESS_TOKEN_TTL_SECONDS, 'Access-token lifetime (`expires_in` of the token response)'),
            refresh_token_ttl_seconds: seconds(60, MAX_REFRESH_TOKEN_TTL_SECONDS, 'Refresh-token lifetime'),
          },
          { additionalProperties: true },
        ),
        { access_token_ttl_seconds: BUILT_IN_SETTINGS.accessTokenTtlSeconds, refresh_token_ttl_seconds: BUILT_IN_SETTINGS.refreshTokenTtlSeconds },
        { env: { access_token_ttl_seconds: 'PRIVGATE_ACCESS_TOKEN_TTL', refresh_token_ttl_seconds: 'PRIVGATE_REFRESH_TOKEN_TTL' } },
      ),
      defineSection(
        'login_throttle',
        'Failed credential checks tolerated per account and per client address inside the window; more answer 429',
        Type.Object(
          {
            per_account: Type.Integer({ minimum: 1, maximum: 100_000, description: 'Failures per account and window' }),
            per_address: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Failures per client address and window' }),
            window_seconds: seconds(1, 24 * 3600, 'Length of a counting window'),
          },
          { additionalProperties: true },
        ),
        { per_account: BUILT_IN_SETTINGS.throttlePerAccount, per_address: BUILT_IN_SETTINGS.throttlePerAddress, window_seconds: BUILT_IN_SETTINGS.throttleWindowSeconds },
        { env: { per_account: 'PRIVGATE_THROTTLE_PER_ACCOUNT', per_address: 'PRIVGATE_THROTTLE_PER_ADDRESS', window_seconds: 'PRIVGATE_THROTTLE_WINDOW' } },
      ),
    ],
  },
  {
    name: 'authorizer',
    description: 'Authorizer: web sessions and component config downloads',
    sections: [
      defineSection(
        'sessions',
        'Lifetimes of web sessions and of component config-download sessions. Applies to sessions opened after the change',
        Type.Object(
          {
            web_session_ttl_seconds: seconds(60, MAX_WEB_SESSION_TTL_SECONDS, 'How long a web session token is valid'),
            config_session_ttl_seconds: seconds(30, 24 * 3600, 'How long a config-download session id stays usable'),
          },
          { additionalProperties: true },
        ),
        { web_session_ttl_seconds: BUILT_IN_SETTINGS.webSessionTtlSeconds, config_session_ttl_seconds: BUILT_IN_SETTINGS.icapConfSessionTtlSeconds },
        { env: { web_session_ttl_seconds: 'PRIVGATE_WEB_SESSION_TTL', config_session_ttl_seconds: 'PRIVGATE_ICAP_CONF_SESSION_TTL' } },
      ),
    ],
  },
  {
    name: 'host-store',
    description: 'Host store settings',
    sections: [
      defineSection(
        'default_service_options',
        'Default service options of every host account; a principal may override whole protocol blocks',
        ServiceOptionsSchema,
        DEFAULT_SERVICE_OPTIONS,
      ),
    ],
  },
  { name: 'local-user-store', description: 'Local user store settings', sections: [otherSettings('local user store')] },
  { name: 'role-store', description: 'Role store settings', sections: [otherSettings('role store')] },
  {
    name: 'monitor-service',
    description: 'Monitor service: the audit trail',
    sections: [
      defineSection(
        'audit',
        'Audit trail retention: housekeeping deletes audit events older than this',
        Type.Object({ retention_days: Type.Integer({ minimum: 0, maximum: 36_500, description: 'Days audit events are kept; 0 keeps them forever' }) }, { additionalProperties: true }),
        { retention_days: BUILT_IN_SETTINGS.auditRetentionDays },
        { env: { retention_days: 'PRIVGATE_AUDIT_RETENTION_DAYS' } },
      ),
    ],
  },
  { name: 'connection-manager', description: 'Connection manager settings', sections: [otherSettings('connection manager')] },
  { name: 'global', description: 'Installation-wide settings', sections: [otherSettings('installation-wide')] },
];

/** The section `scope`/`section` of the registry; throws when it is not declared (a programming error). */
export function requireSection(scopeName: string, sectionName: string): { scope: SettingsScope; section: SettingsSection } {
  const scope = findScope(scopeName);
  const section = scope && findSection(scope, sectionName);
  if (!scope || !section) throw new Error(`settings registry lacks ${scopeName}/${sectionName}`);
  return { scope, section };
}

export function findScope(name: string): SettingsScope | undefined {
  return SETTINGS_SCOPES.find((scope) => scope.name === name);
}

export function findSection(scope: SettingsScope, name: string): SettingsSection | undefined {
  return scope.sections.find((section) => section.name === name);
}

/** The body of a scope-level PUT / answer of a scope-level GET: every section, all required. */
export function scopeSchema(scope: SettingsScope): TObject {
  const properties: Record<string, TObject> = {};
  for (const section of scope.sections) properties[section.name] = section.schema;
  return Type.Object(properties, { additionalProperties: false });
}

/** Plain JSON (TypeBox's symbol keys dropped), deep-copied. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Marks what privgate acts on in a JSON Schema document (docs/settings.md). */
export const ACTED_ON = 'x-privgate-acted-on';
/** Names the environment variable that overrides a key, when it is set on this node. */
export const OVERRIDDEN_BY = 'x-privgate-overridden-by';

/**
 * The JSON Schema of one section (`GET /settings/api/v1/schema/{scope}/{section}`): its
 * description, default value, `restart_required`, and `x-privgate-acted-on` on the section, on
 * each declared key and on the undeclared keys an open section keeps (always false). A key whose
 * environment variable is set (`overrides`, by variable name) names it in `x-privgate-overridden-by`.
 */
export function sectionJsonSchema(section: SettingsSection, overrides: Readonly<Record<string, number>> = {}): Record<string, unknown> {
  const schema = plain(section.schema) as Record<string, unknown> & { properties?: Record<string, Record<string, unknown>> };
  const properties: Record<string, unknown> = {};
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    const variable = section.env[key];
    properties[key] = {
      ...property,
      [ACTED_ON]: section.actedOn,
      ...(variable && overrides[variable] !== undefined ? { [OVERRIDDEN_BY]: variable } : {}),
    };
  }
  return {
    ...schema,
    properties,
    ...(section.openKeys ? { additionalProperties: { description: 'Other PrivX settings: stored and returned, not acted on', [ACTED_ON]: false } } : {}),
    description: section.description,
    default: plain(section.defaults),
    restart_required: section.restartRequired,
    [ACTED_ON]: section.actedOn,
  };
}

/**
 * The JSON Schema document of a scope (`GET /settings/api/v1/schema/{scope}`): each section's
 * schema as {@link sectionJsonSchema} gives it.
 */
export function scopeJsonSchema(scope: SettingsScope, overrides: Readonly<Record<string, number>> = {}): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const section of scope.sections) properties[section.name] = sectionJsonSchema(section, overrides);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: scope.name,
    description: scope.description,
    type: 'object',
    properties,
    required: scope.sections.map((section) => section.name),
    additionalProperties: false,
    restart_required: scope.sections.some((section) => section.restartRequired),
  };
}

/**
 * Whether applying `values` (section → value, as a restart-required check receives them) needs a
 * restart: per section, true when it is declared restart-required and its value differs from
 * `current`. privgate reads every acted-on setting live, so today this is always false.
 */
export function restartRequired(scope: SettingsScope, values: Readonly<Record<string, unknown>>, current: ReadonlyMap<string, unknown>): { restart_required: boolean; sections: Record<string, boolean> } {
  const sections: Record<string, boolean> = {};
  for (const section of scope.sections) {
    if (!(section.name in values)) continue;
    sections[section.name] = section.restartRequired && JSON.stringify(values[section.name]) !== JSON.stringify(current.get(section.name));
  }
  return { restart_required: Object.values(sections).some(Boolean), sections };
}
