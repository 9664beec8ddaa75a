/**
 * `src/lib/` holds pure helpers and wire contracts shared by the control plane and the data
 * planes: no file, socket or process I/O, and nothing from the control plane's services/ or db/
 * (the data planes import lib/, and must not drag those in). A static scan of every import and
 * dynamic import in lib/; a lib file that starts writing files (as tls-files.ts once did) fails.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = path.resolve('src/lib');

/** Node built-ins that read or write files, start processes or open connections. */
const IO_MODULES = new Set(['fs', 'fs/promises', 'child_process', 'cluster', 'dgram', 'dns', 'dns/promises', 'http', 'https', 'http2', 'net', 'tls', 'readline', 'worker_threads', 'inspector']);
/** `node:net` is allowed for its pure address helpers only. */
const PURE_NET_NAMES = new Set(['isIP', 'isIPv4', 'isIPv6']);

function specifiers(text: string): Array<{ specifier: string; names: string }> {
  const found: Array<{ specifier: string; names: string }> = [];
  for (const match of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?([\s\S]*?)\s+from\s+'([^']+)'/gm)) {
    if (!match[1]) found.push({ specifier: match[3]!, names: match[2]! });
  }
  for (const match of text.matchAll(/^\s*import\s+'([^']+)'/gm)) found.push({ specifier: match[1]!, names: '' });
  for (const match of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) found.push({ specifier: match[1]!, names: '*' });
  return found;
}

const files = (fs.readdirSync(LIB, { recursive: true, encoding: 'utf8' }) as string[]).filter((name) => name.endsWith('.ts'));

describe('src/lib is pure', () => {
  it('finds the lib sources it scans', () => {
    expect(files).toContain('pki.ts');
    expect(files).toContain(path.join('pki', 'ca.ts'));
  });

  it.each(files)('%s imports no I/O module and nothing from services/ or db/', (name) => {
    const file = path.join(LIB, name);
    const problems: string[] = [];
    for (const { specifier, names } of specifiers(fs.readFileSync(file, 'utf8'))) {
      const builtin = specifier.replace(/^node:/, '');
      if (IO_MODULES.has(builtin)) {
        const imported = names.replace(/[{}]/g, '').split(',').map((part) => part.trim().split(/\s+as\s+/)[0]!).filter((part) => part.length > 0);
        const pureNet = builtin === 'net' && names.startsWith('{') && imported.every((part) => PURE_NET_NAMES.has(part));
        if (!pureNet) problems.push(`${specifier} (${names || 'side effect'})`);
      }
      if (specifier.startsWith('.')) {
        const target = path.resolve(path.dirname(file), specifier);
        if (!target.startsWith(LIB + path.sep)) problems.push(`${specifier} (outside src/lib)`);
      }
    }
    expect(problems).toEqual([]);
  });
});
