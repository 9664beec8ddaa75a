import { describe, expect, it } from 'vitest';
import { compilePattern, MAX_PATTERN_LENGTH, normaliseCommand, PatternError } from '../../src/lib/command-patterns.js';

const glob = (pattern: string) => compilePattern('glob', pattern);
const regex = (pattern: string) => compilePattern('regex', pattern);

describe('command patterns', () => {
  it('glob: * any run (spaces and slashes too), ? one character, classes, escapes; the whole command must match', () => {
    expect(glob('systemctl status *').matches('systemctl status sshd')).toBe(true);
    expect(glob('systemctl status *').matches('systemctl restart sshd')).toBe(false);
    expect(glob('cat /etc/*').matches('cat /etc/ssh/sshd_config')).toBe(true);
    expect(glob('ls -la').matches('ls -la /root')).toBe(false);
    expect(glob('ls -?a').matches('ls -la')).toBe(true);
    expect(glob('tail -n [0-9][0-9] /var/log/syslog').matches('tail -n 42 /var/log/syslog')).toBe(true);
    expect(glob('tail -n [!0-9]').matches('tail -n 4')).toBe(false);
    expect(glob('echo \\*').matches('echo *')).toBe(true);
    expect(glob('echo \\*').matches('echo x')).toBe(false);
    expect(glob('echo [abc').matches('echo [abc')).toBe(true);
    expect(glob('*').matches('')).toBe(true);
  });

  it('regex: RE2 syntax, matched against the whole command (anchors allowed and redundant)', () => {
    expect(regex('^git .*').matches('git status')).toBe(true);
    expect(regex('git').matches('git status')).toBe(false);
    expect(regex('(git|docker) (ps|status)').matches('docker ps')).toBe(true);
    expect(regex('ls( -[a-z]+)*').matches('ls -l -a')).toBe(true);
    expect(regex('kill -9 \\d{1,5}').matches('kill -9 12345')).toBe(true);
    expect(regex('kill -9 \\d{1,5}').matches('kill -9 123456')).toBe(false);
    expect(regex('cat [^;|&]+').matches('cat /etc/hosts; rm -rf /')).toBe(false);
    expect(regex('(?:a|b)+?c$').matches('abbac')).toBe(true);
    expect(regex('(?P<cmd>uptime)').matches('uptime')).toBe(true);
    expect(regex('x{2,}').matches('xxxx')).toBe(true);
    expect(regex('a{,2}').matches('a{,2}')).toBe(true);
  });

  it('commands are trimmed and their whitespace collapsed before matching', () => {
    expect(normaliseCommand('  ls \t  -la\n')).toBe('ls -la');
    expect(glob('ls -la').matches('  ls    -la ')).toBe(true);
    expect(regex('ls -la').matches('ls\t-la')).toBe(true);
  });

  it('invalid patterns are a PatternError with an offset', () => {
    for (const [type, pattern] of [
      ['regex', '(abc'],
      ['regex', 'abc)'],
      ['regex', '[abc'],
      ['regex', '*abc'],
      ['regex', '(a)\\1'],
      ['regex', '(?=x)'],
      ['regex', '(?i)abc'],
      ['regex', 'a{1000}'],
      ['regex', 'a{3,2}'],
      ['regex', '[z-a]'],
      ['regex', 'abc\\'],
      ['regex', '\\b'],
      ['glob', ''],
      ['glob', 'x'.repeat(MAX_PATTERN_LENGTH + 1)],
    ] as const) {
      expect(() => compilePattern(type, pattern), `${type} ${pattern.slice(0, 20)}`).toThrow(PatternError);
    }
  });

  it('no pattern or command stalls: catastrophic-backtracking shapes match in linear time, blow-ups are refused', () => {
    const evil = regex('(a+)+$');
    expect(evil.matches(`${'a'.repeat(4000)}!`)).toBe(false);
    expect(regex('(a|a)*b').matches('a'.repeat(4000))).toBe(false);
    expect(regex('(.*a){20}').matches('a'.repeat(3000))).toBe(true);
    expect(glob('*a*a*a*a*a*a*a*a*b').matches('a'.repeat(4000))).toBe(false);
    expect(() => regex('((a{255}){255}){255}')).toThrow(PatternError);
    expect(() => regex('(){255}{255}{255}{255}')).toThrow(PatternError);
    expect(() => regex('('.repeat(200) + ')'.repeat(200))).toThrow(PatternError);
  });
});
