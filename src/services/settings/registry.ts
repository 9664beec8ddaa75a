import { Type, type Static, type TObject } from '@sinclair/typebox';
import { DEFAULT_SERVICE_OPTIONS } from '../../lib/service-options.js';
import { ServiceOptionsSchema } from '../host-store/schemas.js';

/**
 * One settings section: a closed TypeBox object schema (it validates PUT bodies and serialises
 * GET answers) and the value in force until the first PUT.
 */
export interface SettingsSection {
  readonly name: string;
  readonly description: string;
  readonly schema: TObject;
  readonly defaults: unknown;
}

/** A settings scope (`/settings/api/v1/settings/{scope}`): a named group of sections. */
export interface SettingsScope {
  readonly name: string;
  readonly description: string;
  readonly sections: readonly SettingsSection[];
}

/** Declares a section; the type parameter ties the defaults to the schema. */
export function defineSection<T extends TObject>(name: string, description: string, schema: T, defaults: Static<T>): SettingsSection {
  return { name, description, schema, defaults };
}

/**
 * Every scope privgate serves. To add settings, declare a section (schema + default) in a scope
 * here; the routes, validation, storage, versioning and audit follow from the declaration.
 * Schemas must be closed (`additionalProperties: false` at every level) and carry no `default`
 * keywords, so a PUT is always the complete object.
 */
export const SETTINGS_SCOPES: readonly SettingsScope[] = [
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
];

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

/**
 * The JSON Schema document of a scope (`GET /settings/api/v1/schema/{scope}`), with each
 * section's default value and description.
 */
export function scopeJsonSchema(scope: SettingsScope): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const section of scope.sections) {
    properties[section.name] = { ...plain(section.schema), description: section.description, default: plain(section.defaults) };
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: scope.name,
    description: scope.description,
    type: 'object',
    properties,
    required: scope.sections.map((section) => section.name),
    additionalProperties: false,
  };
}
