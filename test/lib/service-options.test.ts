import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SERVICE_OPTIONS,
  PROTOCOLS,
  resolveEffectiveServiceOptions,
  type Protocol,
  type ServiceOptions,
  type ServiceOptionsOverride,
} from '../../src/lib/service-options.js';

/** Defaults that differ from the factory ones, so "came from the defaults" is observable. */
const DEFAULTS: ServiceOptions = {
  ssh: { shell: true, file_transfer: false, exec: true, tunnels: false, x11: true, other: false },
  rdp: { file_transfer: false, audio: true, clipboard: false },
  web: { file_transfer: true, audio: false, clipboard: true },
  vnc: { file_transfer: false, clipboard: true },
  db: { max_bytes_download: 1000, max_bytes_upload: 2000 },
};

/** A complete override block per protocol, every value different from DEFAULTS. */
const OVERRIDES: ServiceOptions = {
  ssh: { shell: false, file_transfer: true, exec: false, tunnels: true, x11: false, other: true },
  rdp: { file_transfer: true, audio: false, clipboard: true },
  web: { file_transfer: false, audio: true, clipboard: false },
  vnc: { file_transfer: true, clipboard: false },
  db: { max_bytes_download: 0, max_bytes_upload: Number.MAX_SAFE_INTEGER },
};

function snapshot<T>(value: T): T {
  return structuredClone(value);
}

/** Every subset of the protocols. */
function subsets(items: readonly Protocol[]): Protocol[][] {
  return items.reduce<Protocol[][]>((all, item) => [...all, ...all.map((subset) => [...subset, item])], [[]]);
}

describe('resolveEffectiveServiceOptions', () => {
  it.each(PROTOCOLS)('an override with only the %s block takes that block from the principal and the rest from the defaults', (protocol) => {
    const override: ServiceOptionsOverride = { [protocol]: OVERRIDES[protocol] };
    const result = resolveEffectiveServiceOptions(DEFAULTS, override);
    for (const other of PROTOCOLS) {
      if (other === protocol) {
        expect(result.options[other]).toEqual(OVERRIDES[other]);
        expect(result.sources[other]).toBe('principal');
      } else {
        expect(result.options[other]).toEqual(DEFAULTS[other]);
        expect(result.sources[other]).toBe('default');
      }
    }
  });

  it.each(PROTOCOLS)('an override without the %s block takes that block from the defaults', (protocol) => {
    const override: ServiceOptionsOverride = Object.fromEntries(PROTOCOLS.filter((other) => other !== protocol).map((other) => [other, OVERRIDES[other]]));
    const result = resolveEffectiveServiceOptions(DEFAULTS, override);
    expect(result.options[protocol]).toEqual(DEFAULTS[protocol]);
    expect(result.sources[protocol]).toBe('default');
    for (const other of PROTOCOLS.filter((candidate) => candidate !== protocol)) {
      expect(result.options[other]).toEqual(OVERRIDES[other]);
      expect(result.sources[other]).toBe('principal');
    }
  });

  it('every combination of present blocks resolves block by block (mixed sources)', () => {
    const combinations = subsets(PROTOCOLS);
    expect(combinations).toHaveLength(32);
    for (const present of combinations) {
      const override: ServiceOptionsOverride = Object.fromEntries(present.map((protocol) => [protocol, OVERRIDES[protocol]]));
      const result = resolveEffectiveServiceOptions(DEFAULTS, override);
      for (const protocol of PROTOCOLS) {
        const fromPrincipal = present.includes(protocol);
        expect(result.options[protocol], `${present.join('+')}: ${protocol}`).toEqual(fromPrincipal ? OVERRIDES[protocol] : DEFAULTS[protocol]);
        expect(result.sources[protocol]).toBe(fromPrincipal ? 'principal' : 'default');
      }
      expect(Object.keys(result.options).sort()).toEqual([...PROTOCOLS].sort());
      expect(Object.keys(result.sources).sort()).toEqual([...PROTOCOLS].sort());
    }
  });

  it('a complete override takes every block from the principal', () => {
    const result = resolveEffectiveServiceOptions(DEFAULTS, OVERRIDES);
    expect(result.options).toEqual(OVERRIDES);
    expect(result.sources).toEqual({ ssh: 'principal', rdp: 'principal', web: 'principal', vnc: 'principal', db: 'principal' });
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['an empty object', {}],
  ] as const)('a %s override takes every block from the defaults', (_name, override) => {
    const result = resolveEffectiveServiceOptions(DEFAULTS, override);
    expect(result.options).toEqual(DEFAULTS);
    expect(result.sources).toEqual({ ssh: 'default', rdp: 'default', web: 'default', vnc: 'default', db: 'default' });
  });

  it('null blocks in an override count as absent', () => {
    const override = { web: null, db: OVERRIDES.db } as unknown as ServiceOptionsOverride;
    const result = resolveEffectiveServiceOptions(DEFAULTS, override);
    expect(result.options.web).toEqual(DEFAULTS.web);
    expect(result.sources.web).toBe('default');
    expect(result.options.db).toEqual(OVERRIDES.db);
    expect(result.sources.db).toBe('principal');
  });

  it('an override block is taken whole, never merged field by field with the default', () => {
    const result = resolveEffectiveServiceOptions(DEFAULTS, { web: { file_transfer: true, audio: true, clipboard: true } });
    expect(result.options.web).toEqual({ file_transfer: true, audio: true, clipboard: true });
  });

  it('the factory defaults allow everything and set no byte limits', () => {
    const result = resolveEffectiveServiceOptions(DEFAULT_SERVICE_OPTIONS, undefined);
    for (const protocol of ['ssh', 'rdp', 'web', 'vnc'] as const) {
      expect(Object.values(result.options[protocol]).every((value) => value === true)).toBe(true);
    }
    expect(result.options.db).toEqual({ max_bytes_download: 0, max_bytes_upload: 0 });
  });

  describe('the result never aliases its inputs', () => {
    it('mutating a block that came from the defaults leaves the defaults unchanged', () => {
      const before = snapshot(DEFAULTS);
      const result = resolveEffectiveServiceOptions(DEFAULTS, null);
      for (const protocol of PROTOCOLS) expect(result.options[protocol]).not.toBe(DEFAULTS[protocol]);
      result.options.ssh.shell = !result.options.ssh.shell;
      result.options.web.clipboard = !result.options.web.clipboard;
      result.options.db.max_bytes_upload = 42;
      expect(DEFAULTS).toEqual(before);
    });

    it('mutating a block that came from the override leaves the override unchanged', () => {
      const override = snapshot(OVERRIDES);
      const result = resolveEffectiveServiceOptions(DEFAULTS, override);
      for (const protocol of PROTOCOLS) expect(result.options[protocol]).not.toBe(override[protocol]);
      result.options.rdp.audio = !result.options.rdp.audio;
      result.options.vnc.clipboard = !result.options.vnc.clipboard;
      expect(override).toEqual(OVERRIDES);
    });

    it('the frozen factory defaults resolve into a mutable copy', () => {
      const result = resolveEffectiveServiceOptions(DEFAULT_SERVICE_OPTIONS, undefined);
      result.options.web.file_transfer = false;
      expect(result.options.web.file_transfer).toBe(false);
      expect(DEFAULT_SERVICE_OPTIONS.web.file_transfer).toBe(true);
    });

    it('two resolutions share nothing', () => {
      const first = resolveEffectiveServiceOptions(DEFAULTS, { ssh: OVERRIDES.ssh });
      const second = resolveEffectiveServiceOptions(DEFAULTS, { ssh: OVERRIDES.ssh });
      first.options.ssh.exec = !first.options.ssh.exec;
      first.sources.web = 'principal';
      expect(second.options.ssh).toEqual(OVERRIDES.ssh);
      expect(second.sources.web).toBe('default');
    });
  });
});
