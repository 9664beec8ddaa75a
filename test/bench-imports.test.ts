import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

// The bench and the scripts are plain .mjs files that import the built service from dist/: no type
// check sees them, so a moved export breaks `npm run bench` silently. `npm test` builds dist/ first
// (pretest); this test resolves every named import they take from dist/ against the build.

const ROOT = path.resolve(import.meta.dirname, '..');
const FOLDERS = ['bench', 'bench/servers', 'scripts'];
const STATIC = /import\s*\{([^}]*)\}\s*from\s*'((?:\.\.\/)+dist\/[^']+)'/g;
const DYNAMIC = /const\s*\{([^}]*)\}\s*=\s*await\s+import\('((?:\.\.\/)+dist\/[^']+)'\)/g;

function importsOf(file: string): Array<{ names: string[]; target: string }> {
  const text = fs.readFileSync(file, 'utf8');
  const found: Array<{ names: string[]; target: string }> = [];
  for (const pattern of [STATIC, DYNAMIC]) {
    for (const match of text.matchAll(pattern)) {
      const names = match[1]!
        .split(',')
        .map((name) => name.trim().split(/\s+as\s+|\s*:\s*/)[0]!.trim())
        .filter((name) => name !== '' && !name.startsWith('type '));
      found.push({ names, target: path.resolve(path.dirname(file), match[2]!) });
    }
  }
  return found;
}

const files = FOLDERS.flatMap((folder) =>
  fs
    .readdirSync(path.join(ROOT, folder))
    .filter((name) => name.endsWith('.mjs'))
    .map((name) => path.join(ROOT, folder, name)),
);

describe('bench and scripts import what dist/ exports', () => {
  it('finds the imports it checks', () => {
    expect(files.flatMap(importsOf).length).toBeGreaterThan(5);
  });

  it.each(files.map((file) => [path.relative(ROOT, file)]))('%s', async (relative) => {
    for (const { names, target } of importsOf(path.join(ROOT, relative))) {
      expect(fs.existsSync(target), `${relative}: ${path.relative(ROOT, target)} is not built`).toBe(true);
      const module = (await import(pathToFileURL(target).href)) as Record<string, unknown>;
      for (const name of names) expect(module[name], `${relative}: ${name} from ${path.relative(ROOT, target)}`).toBeDefined();
    }
  });
});
