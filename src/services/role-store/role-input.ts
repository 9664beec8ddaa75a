import { invalid } from '../../errors.js';
import { limitProblem, NO_LIMIT, type ContextualLimit } from '../../lib/contextual-limit.js';
import type { Static } from '@sinclair/typebox';
import type { RoleIn } from './schemas.js';
import { isPermission, type Permission } from '../../access.js';
import { DEFAULT_ACCESS_GROUP_ID } from '../authorizer/access-group-repository.js';

/** The access group of a role that names none (the authorizer's default group). */
export { DEFAULT_ACCESS_GROUP_ID };

/** Rejects anything not on the closed permission list, naming the offending entry. */
export function validatePermissions(permissions: readonly string[]): Permission[] {
  const seen = new Set<Permission>();
  permissions.forEach((permission, index) => {
    if (!isPermission(permission)) throw invalid('INVALID_REQUEST_DATA', `unknown permission "${permission}"`, `permissions[${index}]`);
    seen.add(permission);
  });
  return [...seen];
}


const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
const MAX_RULE_DEPTH = 10;
const MAX_RULES = 1000;

/** The SDK's SourceRule; `rules` always an array. */
export interface SourceRule {
  type?: string;
  source?: string;
  search_string?: string;
  match?: string;
  rules: SourceRule[];
}

export const DEFAULT_SOURCE_RULES: SourceRule = { type: 'GROUP', match: 'ANY', rules: [] };

export interface ValidityPeriod {
  grant_start?: string;
  grant_end?: string;
}

/** Every stored field of a role, validated. */
export interface RoleFields {
  name: string;
  comment: string;
  permissions: Permission[];
  access_group_id: string;
  source_rules: SourceRule;
  context: ContextualLimit;
  permit_agent: boolean;
  tags: string[];
  grant_type: string;
  grant_start: string;
  grant_end: string;
  grant_validity_periods: ValidityPeriod[];
  floating_length: number;
}

/** What the routes and test helpers pass in: the wire body, or just name and permissions. */
export type RoleInput = Partial<Omit<Static<typeof RoleIn>, 'name' | 'permissions'>> & { name: string; permissions: readonly string[] | null };

/** A source rule tree as stored: known string fields kept as sent, `rules` an array, bounded depth and size. */
function sourceRulesOf(value: unknown): SourceRule {
  let count = 0;
  const walk = (node: unknown, path: string, depth: number): SourceRule => {
    count += 1;
    if (count > MAX_RULES) throw invalid('INVALID_REQUEST_DATA', `at most ${MAX_RULES} source rules`, 'source_rules');
    if (depth > MAX_RULE_DEPTH) throw invalid('INVALID_REQUEST_DATA', `source rules nest at most ${MAX_RULE_DEPTH} deep`, path);
    if (typeof node !== 'object' || node === null || Array.isArray(node)) throw invalid('INVALID_REQUEST_DATA', 'a source rule is an object', path);
    const record = node as Record<string, unknown>;
    const rule: SourceRule = { rules: [] };
    for (const key of ['type', 'source', 'search_string', 'match'] as const) {
      const field = record[key];
      if (field === undefined || field === null) continue;
      if (typeof field !== 'string' || field.length > 1000) throw invalid('INVALID_REQUEST_DATA', `${key} must be a string of at most 1000 characters`, `${path}.${key}`);
      rule[key] = field;
    }
    const children = record.rules;
    if (children !== undefined && children !== null) {
      if (!Array.isArray(children)) throw invalid('INVALID_REQUEST_DATA', 'rules must be an array', `${path}.rules`);
      rule.rules = children.map((child, index) => walk(child, `${path}.rules[${index}]`, depth + 1));
    }
    return rule;
  };
  return value === undefined || value === null ? { ...DEFAULT_SOURCE_RULES, rules: [] } : walk(value, 'source_rules', 0);
}

function contextOf(value: RoleInput['context']): ContextualLimit {
  if (!value) return { ...NO_LIMIT, validity: [], ip_masks: [] };
  const limit: ContextualLimit = {
    enabled: value.enabled ?? false,
    validity: value.validity ?? [],
    start_time: value.start_time ?? '',
    end_time: value.end_time ?? '',
    timezone: value.timezone ?? '',
    ip_masks: value.ip_masks ?? [],
  };
  if (value.block_role !== undefined) limit.block_role = value.block_role;
  const problem = limitProblem(limit);
  if (problem) throw invalid('INVALID_REQUEST_DATA', problem.message, `context.${problem.property}`);
  return limit;
}

function timestampOf(value: string | undefined, property: string): string {
  if (value === undefined || value === '') return '';
  if (!RFC3339.test(value) || Number.isNaN(Date.parse(value))) throw invalid('INVALID_REQUEST_DATA', `${property} must be an RFC 3339 timestamp`, property);
  return value;
}

/**
 * A role body as stored: a PUT replaces every field (the Go SDK omits empty ones, so an absent
 * field means empty). An empty access_group_id means the default group; any other must be a UUID.
 */
export function roleFieldsOf(input: RoleInput): RoleFields {
  const accessGroup = input.access_group_id ?? '';
  if (accessGroup !== '' && !UUID.test(accessGroup)) throw invalid('INVALID_REQUEST_DATA', 'access_group_id must be a UUID', 'access_group_id');
  return {
    name: input.name,
    comment: input.comment ?? '',
    permissions: validatePermissions(input.permissions ?? []),
    access_group_id: accessGroup === '' ? DEFAULT_ACCESS_GROUP_ID : accessGroup,
    source_rules: sourceRulesOf(input.source_rules),
    context: contextOf(input.context),
    permit_agent: input.permit_agent ?? false,
    tags: input.tags ?? [],
    grant_type: input.grant_type ?? '',
    grant_start: timestampOf(input.grant_start, 'grant_start'),
    grant_end: timestampOf(input.grant_end, 'grant_end'),
    grant_validity_periods: (input.grant_validity_periods ?? []).map((period, index) => {
      const out: ValidityPeriod = {};
      const start = timestampOf(period.grant_start, `grant_validity_periods[${index}].grant_start`);
      const end = timestampOf(period.grant_end, `grant_validity_periods[${index}].grant_end`);
      if (start !== '') out.grant_start = start;
      if (end !== '') out.grant_end = end;
      return out;
    }),
    floating_length: input.floating_length ?? 0,
  };
}
