import fc from 'fast-check';

/** The JSON Schema subset TypeBox emits for our routes. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  const?: unknown;
  enum?: unknown[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  format?: string;
  pattern?: string;
}

/** Strings that have broken parsers, routers and databases elsewhere. */
export const NASTY_STRINGS = [
  '',
  '..',
  '../../etc/passwd',
  '%00',
  '\u0000',
  'a\u0000b',
  "'; drop table users; --",
  '" OR 1=1 --',
  '${jndi:ldap://x}',
  '\u202e\u0645\u0631\u062d\u0628\u0627',
  '🦄'.repeat(50),
  'ǅ\uFEFF\u200B',
  'x'.repeat(10_000),
  '__proto__',
  'constructor',
  '*.',
  '0.0.0.0/0',
  '-1',
  'NaN',
  'null',
];

export const NASTY_NUMBERS = [-1, -0, 0, 1, 2 ** 31, 2 ** 53, 2 ** 63, -(2 ** 63), 1e308, -1e308, 0.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2];

/** An arbitrary producing values that satisfy `schema` (best effort: patterns are not honoured). */
export function valueFor(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const union = schema.anyOf ?? schema.oneOf;
  if (union && union.length > 0) return fc.oneof(...union.map((member) => valueFor(member, depth + 1)));
  if (schema.allOf && schema.allOf.length > 0) return valueFor(Object.assign({}, ...schema.allOf) as JsonSchema, depth + 1);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string': {
      const maxLength = Math.min(schema.maxLength ?? 40, 64);
      const minLength = Math.min(schema.minLength ?? 0, maxLength);
      if (schema.format === 'date-time') return fc.date({ min: new Date(0), max: new Date(4102444800000), noInvalidDate: true }).map((date) => date.toISOString());
      return fc.string({ minLength: Math.max(minLength, 1), maxLength: Math.max(maxLength, 1) });
    }
    case 'integer':
      return fc.integer({ min: Math.max(schema.minimum ?? -1000, -1_000_000), max: Math.min(schema.maximum ?? 1_000_000, 1_000_000) });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      if (depth > 4) return fc.constant([]);
      return fc.array(valueFor(schema.items ?? {}, depth + 1), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 3, 3) });
    case 'object': {
      if (depth > 4) return fc.constant({});
      const properties = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, property] of Object.entries(properties)) record[key] = valueFor(property, depth + 1);
      return fc.record(record, { requiredKeys: [...required].filter((key) => key in properties) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A hostile replacement for one value: wrong type, extreme size or number, deep nesting, unicode. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...NASTY_STRINGS),
  fc.constantFrom(...NASTY_NUMBERS),
  fc.constantFrom(null, true, false, [], {}, [null], { $gt: '' }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer({ min: 1, max: 200 }).map((depth) => {
    let nested: unknown = 'deep';
    for (let level = 0; level < depth; level += 1) nested = { d: nested };
    return nested;
  }),
);

/** Replaces the value at a random path inside `value` (or adds an unknown key) with `replacement`. */
export function mutate(value: unknown, pathSeed: number, replacement: unknown): unknown {
  if (typeof value !== 'object' || value === null) return replacement;
  const clone = structuredClone(value) as Record<string, unknown> | unknown[];
  const keys = Object.keys(clone);
  if (keys.length === 0 || pathSeed % 5 === 0) {
    (clone as Record<string, unknown>)[`unknown_${pathSeed % 7}`] = replacement;
    return clone;
  }
  const key = keys[pathSeed % keys.length] as string;
  const inner = (clone as Record<string, unknown>)[key];
  (clone as Record<string, unknown>)[key] = pathSeed % 3 === 0 && typeof inner === 'object' && inner !== null ? mutate(inner, Math.floor(pathSeed / 3), replacement) : replacement;
  return clone;
}

/**
 * Path segments sent as they are (not percent-encoded again): bad percent-encoding, overlong UTF-8
 * (`%C0%AE` is '.'), unpaired surrogates, NUL, traversal, and ids beyond the router's limit.
 */
export const HOSTILE_PATH_SEGMENTS = ['%zz', '%', '%C0%AE', '%FF%FE', '%00', '%E0%A4%A', '%ED%A0%80', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..%2f', 'a'.repeat(120), 'a'.repeat(600)];

/** Query strings sent as they are: bad percent-encoding in keys and values, NUL, a 10 KB key, repeats. */
export const HOSTILE_QUERIES = ['%=1', '%zz=%zz', 'a=%C0%AE&%FF%FE=1', 'token%=secret', 'x=%00', `${'k'.repeat(10_000)}=1`, 'limit=%FF&offset=%C0%AE', '&&&==&', 'offset=-1&limit=1e999', 'sortdir=%00', 'limit=1&limit=2'];

/** An object nested `depth` levels, as JSON text (built as text: JSON.stringify itself overflows on deep values). */
export function deepJson(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"d":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** Header variations beyond the token and JSON content type every fuzz request carries; `auth` ones replace the token. */
export interface HeaderCase {
  name: string;
  /** The request no longer carries a usable token: 401 is the right answer. */
  breaksAuth: boolean;
  headers(token: string): Record<string, string | string[]>;
}

export const HEADER_CASES: HeaderCase[] = [
  { name: 'empty bearer', breaksAuth: true, headers: () => ({ authorization: 'Bearer ', 'content-type': 'application/json' }) },
  { name: 'bearer without a token', breaksAuth: true, headers: () => ({ authorization: 'Bearer', 'content-type': 'application/json' }) },
  { name: 'empty authorization', breaksAuth: true, headers: () => ({ authorization: '', 'content-type': 'application/json' }) },
  { name: 'two authorizations', breaksAuth: true, headers: (token) => ({ authorization: [`Bearer ${token}`, 'Bearer x'], 'content-type': 'application/json' }) },
  { name: '10 KB bearer', breaksAuth: true, headers: () => ({ authorization: `Bearer ${'A'.repeat(10_000)}`, 'content-type': 'application/json' }) },
  { name: 'repeated content type', breaksAuth: false, headers: (token) => ({ authorization: `Bearer ${token}`, 'content-type': ['application/json', 'text/plain'] }) },
  { name: 'empty content type', breaksAuth: false, headers: (token) => ({ authorization: `Bearer ${token}`, 'content-type': '' }) },
  { name: 'odd content type', breaksAuth: false, headers: (token) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-16' }) },
  { name: 'accept-version and 10 KB header', breaksAuth: false, headers: (token) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json', 'accept-version': '%zz', 'x-long': 'x'.repeat(10_000) }) },
];
