/**
 * The error registry (`src/errors.ts`): every code in the closed union has the statuses it is
 * answered with, and is produced somewhere. "Produced" is decided by a static scan of the source,
 * not by running every path: a code counts when its quoted literal appears in code (comments
 * stripped) of a src/ file other than errors.ts, or in a helper of errors.ts (`notFound`,
 * `duplicate`, …) that such a file calls. A code added to the union and never used fails here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_STATUSES, type ErrorCode } from '../../src/errors.js';

const SRC = path.resolve('src');
const ERRORS_FILE = path.join(SRC, 'errors.ts');

/** The text of a source file without its comments (block comments and whole-line `//` comments). */
function code(file: string): string {
  return fs
    .readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
}

const sources = new Map(
  (fs.readdirSync(SRC, { recursive: true, encoding: 'utf8' }) as string[])
    .filter((name) => name.endsWith('.ts'))
    .map((name) => [path.join(SRC, name), code(path.join(SRC, name))] as const),
);
const outside = [...sources].filter(([file]) => file !== ERRORS_FILE);

const literal = (value: string) => new RegExp(`['"\`]${value}['"\`]`);

/** errors.ts's exported helper functions and the text of each (signature and body). */
function helpers(): Array<{ name: string; text: string }> {
  const text = sources.get(ERRORS_FILE) ?? '';
  return [...text.matchAll(/^export function (\w+)\([\s\S]*?^}$/gm)].map((match) => ({ name: match[1] as string, text: match[0] }));
}

/** The files outside errors.ts that mention `code` literally or call an errors.ts helper that does. */
function producers(errorCode: ErrorCode): string[] {
  const callers = helpers()
    .filter((helper) => literal(errorCode).test(helper.text))
    .map((helper) => new RegExp(`\\b${helper.name}\\(`));
  return outside.filter(([, text]) => literal(errorCode).test(text) || callers.some((call) => call.test(text))).map(([file]) => path.relative(SRC, file));
}

describe('the error registry', () => {
  it('the registry scan sees the source tree (src/**/*.ts, errors.ts among them)', () => {
    expect(sources.has(ERRORS_FILE)).toBe(true);
    expect(outside.length).toBeGreaterThan(20);
    expect(helpers().map((helper) => helper.name)).toEqual(expect.arrayContaining(['notFound', 'duplicate', 'unauthorized', 'forbidden']));
  });

  it('has no code twice and a status list for exactly the codes of the union', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect(Object.keys(ERROR_STATUSES).sort()).toEqual([...ERROR_CODES].sort());
  });

  it.each([...ERROR_CODES])('%s has at least one status, each a 4xx or 5xx', (errorCode) => {
    const statuses = ERROR_STATUSES[errorCode];
    expect(statuses.length).toBeGreaterThan(0);
    for (const status of statuses) expect(Number.isInteger(status) && status >= 400 && status <= 599, `${errorCode}: ${status}`).toBe(true);
  });

  it.each([...ERROR_CODES])('%s is produced somewhere in src/ (static scan of src/**/*.ts outside errors.ts)', (errorCode) => {
    expect(producers(errorCode), `${errorCode} is in the union but nothing in src/ produces it`).not.toEqual([]);
  });

  it('every 404 code contains NOT_FOUND (the Terraform provider reads such a code as "deleted")', () => {
    for (const errorCode of ERROR_CODES) {
      if ((ERROR_STATUSES[errorCode] as readonly number[]).includes(404)) expect(errorCode).toContain('NOT_FOUND');
    }
  });

  it('each status written next to a code in src/ is one the registry lists for it (static scan of the literal call sites)', () => {
    const sites: Array<[string, number, string]> = [];
    const patterns: Array<[RegExp, (match: RegExpMatchArray) => [number, string]]> = [
      [/PrivxError\((\d{3}), '([A-Z_]+)'/g, (match) => [Number(match[1]), match[2] as string]],
      [/\((?:reply|response), (\d{3}), \{ error_code: '([A-Z_]+)'/g, (match) => [Number(match[1]), match[2] as string]],
      [/case (\d{3}):\s*return '([A-Z_]+)'/g, (match) => [Number(match[1]), match[2] as string]],
      [/\[(\d{3}), '[^']*', '([A-Z_]+)'/g, (match) => [Number(match[1]), match[2] as string]],
      [/\binvalid\('([A-Z_]+)'/g, (match) => [400, match[1] as string]],
    ];
    for (const [file, text] of sources) {
      for (const [pattern, read] of patterns) {
        for (const match of text.matchAll(pattern)) sites.push([path.relative(SRC, file), ...read(match)]);
      }
    }
    // The scan finds the sites it is meant to (a pattern that matches nothing would prove nothing).
    expect(sites.length).toBeGreaterThan(50);
    for (const [file, status, errorCode] of sites) {
      expect(ERROR_CODES, `${file}: unknown code ${errorCode}`).toContain(errorCode);
      expect(ERROR_STATUSES[errorCode as ErrorCode], `${file}: ${errorCode} answered with ${status}`).toContain(status);
    }
  });
});
