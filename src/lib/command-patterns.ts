/**
 * Command whitelist patterns (PrivX's `glob` and `regex` whitelist types), compiled to a Thompson
 * NFA and matched by simulating all states at once: time is linear in the command's length times
 * the pattern's size, whatever either holds, so no pattern or command can stall a process. There
 * are no backreferences or lookarounds (RE2's syntax has none either). Pure: no I/O; the control
 * plane evaluates with it and the SSH gateway enforces with it.
 *
 * Semantics (docs/whitelists.md): a pattern must match the whole normalised command (leading and
 * trailing whitespace trimmed, runs of whitespace collapsed to one space), case-sensitively.
 */

export const WHITELIST_TYPES = ['glob', 'regex'] as const;
export type WhitelistType = (typeof WHITELIST_TYPES)[number];

/** Longest pattern accepted, in characters. */
export const MAX_PATTERN_LENGTH = 1024;
/** Most NFA states one pattern may compile to (counted repetitions multiply states). */
export const MAX_PATTERN_STATES = 4096;
/** Deepest group nesting in a regex. */
const MAX_NESTING = 64;
/** Largest bound of a counted repetition `{n,m}`. */
const MAX_REPEAT = 255;

/** A pattern that does not compile; `offset` is where in the pattern (0-based). */
export class PatternError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = 'PatternError';
    this.offset = offset;
  }
}

/** A set of code points: inclusive ranges, possibly negated. */
interface CharSet {
  ranges: Array<readonly [number, number]>;
  negated: boolean;
}

type Node =
  | { kind: 'empty' }
  | { kind: 'char'; set: CharSet }
  | { kind: 'concat'; items: Node[] }
  | { kind: 'alternation'; options: Node[] }
  | { kind: 'repeat'; node: Node; min: number; max: number }
  | { kind: 'start' }
  | { kind: 'end' };

const ANY: CharSet = { ranges: [], negated: true };
const DIGIT: Array<readonly [number, number]> = [[0x30, 0x39]];
const WORD: Array<readonly [number, number]> = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];
const SPACE: Array<readonly [number, number]> = [[0x09, 0x0d], [0x20, 0x20]];

function literal(code: number): Node {
  return { kind: 'char', set: { ranges: [[code, code]], negated: false } };
}

function inSet(set: CharSet, code: number): boolean {
  let found = false;
  for (const [low, high] of set.ranges) {
    if (code >= low && code <= high) {
      found = true;
      break;
    }
  }
  return found !== set.negated;
}

/** The pattern as code points (so offsets and `.` count characters, not UTF-16 units). */
function codePoints(text: string): number[] {
  const points: number[] = [];
  for (const character of text) points.push(character.codePointAt(0) ?? 0);
  return points;
}

// ─── glob ───────────────────────────────────────────────────────────────────────────────────

/**
 * Glob, as fnmatch without FNM_PATHNAME: `*` any run of characters (also `/` and spaces), `?` any
 * one character, `[abc]`, `[a-z]`, `[!a-z]` or `[^a-z]` a class, `\x` the character x. A `[` with no
 * closing `]` is a literal `[`.
 */
function parseGlob(source: number[]): Node {
  const items: Node[] = [];
  let index = 0;
  while (index < source.length) {
    const code = source[index]!;
    if (code === 0x2a /* * */) {
      // `**` is the same as `*`; one repeat keeps the NFA small.
      if (items.at(-1)?.kind !== 'repeat') items.push({ kind: 'repeat', node: { kind: 'char', set: ANY }, min: 0, max: Infinity });
      index += 1;
    } else if (code === 0x3f /* ? */) {
      items.push({ kind: 'char', set: ANY });
      index += 1;
    } else if (code === 0x5c /* \ */ && index + 1 < source.length) {
      items.push(literal(source[index + 1]!));
      index += 2;
    } else if (code === 0x5b /* [ */) {
      const parsed = globClass(source, index);
      if (parsed) {
        items.push({ kind: 'char', set: parsed.set });
        index = parsed.next;
      } else {
        items.push(literal(code));
        index += 1;
      }
    } else {
      items.push(literal(code));
      index += 1;
    }
  }
  return { kind: 'concat', items };
}

/** A glob class starting at `start` (a `[`), or undefined when it is not closed. */
function globClass(source: number[], start: number): { set: CharSet; next: number } | undefined {
  let index = start + 1;
  let negated = false;
  if (source[index] === 0x21 /* ! */ || source[index] === 0x5e /* ^ */) {
    negated = true;
    index += 1;
  }
  const ranges: Array<readonly [number, number]> = [];
  let first = true;
  while (index < source.length) {
    let code = source[index]!;
    // A `]` first in the class is a member, as in fnmatch.
    if (code === 0x5d /* ] */ && !first) return { set: { ranges, negated }, next: index + 1 };
    first = false;
    if (code === 0x5c && index + 1 < source.length) {
      index += 1;
      code = source[index]!;
    }
    if (source[index + 1] === 0x2d /* - */ && index + 2 < source.length && source[index + 2] !== 0x5d) {
      let high = source[index + 2]!;
      let next = index + 3;
      if (high === 0x5c && index + 3 < source.length) {
        high = source[index + 3]!;
        next = index + 4;
      }
      if (high < code) return undefined;
      ranges.push([code, high]);
      index = next;
    } else {
      ranges.push([code, code]);
      index += 1;
    }
  }
  return undefined;
}

// ─── regex ──────────────────────────────────────────────────────────────────────────────────

/**
 * A regular expression in RE2's syntax without flags: alternation `|`, groups `( )`, `(?: )` and
 * `(?P<name> )`/`(?<name> )`, quantifiers `* + ? {n} {n,} {n,m}` (a trailing `?` for laziness is
 * accepted; it does not change whether a command matches), `.`, classes `[...]` with ranges,
 * negation and `\d \w \s` (and their capitals), anchors `^ $`, and escapes. Backreferences,
 * lookarounds and flags are refused.
 */
class RegexParser {
  private index = 0;
  private depth = 0;

  constructor(private readonly source: number[]) {}

  parse(): Node {
    const node = this.alternation();
    if (this.index < this.source.length) throw new PatternError('unmatched ")"', this.index);
    return node;
  }

  private peek(offset = 0): number | undefined {
    return this.source[this.index + offset];
  }

  private alternation(): Node {
    const options = [this.concatenation()];
    while (this.peek() === 0x7c /* | */) {
      this.index += 1;
      options.push(this.concatenation());
    }
    return options.length === 1 ? options[0]! : { kind: 'alternation', options };
  }

  private concatenation(): Node {
    const items: Node[] = [];
    while (this.index < this.source.length) {
      const code = this.peek()!;
      if (code === 0x7c || code === 0x29 /* ) */) break;
      const atomAt = this.index;
      const atom = this.atom();
      items.push(this.quantified(atom, atomAt));
    }
    return items.length === 1 ? items[0]! : { kind: 'concat', items };
  }

  private quantified(atom: Node, atomAt: number): Node {
    let node = atom;
    for (;;) {
      const code = this.peek();
      let min: number;
      let max: number;
      if (code === 0x2a /* * */) [min, max] = [0, Infinity];
      else if (code === 0x2b /* + */) [min, max] = [1, Infinity];
      else if (code === 0x3f /* ? */) [min, max] = [0, 1];
      else if (code === 0x7b /* { */) {
        const bounds = this.counted();
        if (!bounds) return node;
        [min, max] = bounds;
      } else return node;
      if (node.kind === 'start' || node.kind === 'end') throw new PatternError('nothing to repeat', atomAt);
      if (code !== 0x7b) this.index += 1;
      if (this.peek() === 0x3f) this.index += 1; // lazy: same match set
      node = { kind: 'repeat', node, min, max };
    }
  }

  /** `{n}`, `{n,}` or `{n,m}` at the cursor (consumed), or undefined when `{` is a literal there. */
  private counted(): [number, number] | undefined {
    const start = this.index;
    let index = start + 1;
    const number = (): number | undefined => {
      let digits = '';
      while (index < this.source.length && this.source[index]! >= 0x30 && this.source[index]! <= 0x39) {
        digits += String.fromCharCode(this.source[index]!);
        index += 1;
      }
      return digits === '' ? undefined : Number(digits.slice(0, 9));
    };
    const min = number();
    if (min === undefined) return undefined;
    let max = min;
    if (this.source[index] === 0x2c /* , */) {
      index += 1;
      max = number() ?? Infinity;
    }
    if (this.source[index] !== 0x7d /* } */) return undefined;
    if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) throw new PatternError(`repetition count above ${MAX_REPEAT}`, start);
    if (max < min) throw new PatternError('invalid repetition range', start);
    this.index = index + 1;
    return [min, max];
  }

  private atom(): Node {
    const at = this.index;
    const code = this.peek()!;
    this.index += 1;
    switch (code) {
      case 0x28 /* ( */:
        return this.group(at);
      case 0x5b /* [ */:
        return { kind: 'char', set: this.characterClass(at) };
      case 0x2e /* . */:
        return { kind: 'char', set: ANY };
      case 0x5e /* ^ */:
        return { kind: 'start' };
      case 0x24 /* $ */:
        return { kind: 'end' };
      case 0x5c /* \ */:
        return this.escape(at, false).node;
      case 0x2a:
      case 0x2b:
      case 0x3f:
        throw new PatternError('missing argument to repetition operator', at);
      default:
        return literal(code);
    }
  }

  private group(at: number): Node {
    if (this.peek() === 0x3f /* ? */) {
      const next = this.peek(1);
      if (next === 0x3a /* : */) this.index += 2;
      else if (next === 0x50 /* P */ && this.peek(2) === 0x3c /* < */) this.skipGroupName(3, at);
      else if (next === 0x3c /* < */ && this.peek(2) !== 0x3d && this.peek(2) !== 0x21) this.skipGroupName(2, at);
      else throw new PatternError('lookarounds and flags are not supported', at);
    }
    this.depth += 1;
    if (this.depth > MAX_NESTING) throw new PatternError(`groups nested deeper than ${MAX_NESTING}`, at);
    const inner = this.alternation();
    this.depth -= 1;
    if (this.peek() !== 0x29) throw new PatternError('missing ")"', at);
    this.index += 1;
    return inner;
  }

  private skipGroupName(prefix: number, at: number): void {
    let index = this.index + prefix;
    const nameStart = index;
    while (index < this.source.length && this.source[index] !== 0x3e /* > */) {
      const code = this.source[index]!;
      const wordCharacter = (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || code === 0x5f || (code >= 0x61 && code <= 0x7a);
      if (!wordCharacter) throw new PatternError('invalid group name', at);
      index += 1;
    }
    if (index >= this.source.length || index === nameStart) throw new PatternError('invalid group name', at);
    this.index = index + 1;
  }

  /** An escape after its `\` (at `at`); `inClass` refuses the anchors `\A` and `\z` there. */
  private escape(at: number, inClass: boolean): { node: Node; set?: CharSet; code?: number } {
    const code = this.peek();
    if (code === undefined) throw new PatternError('trailing backslash', at);
    this.index += 1;
    const classOf = (ranges: Array<readonly [number, number]>, negated: boolean) => {
      const set = { ranges, negated };
      return { node: { kind: 'char', set } as Node, set };
    };
    const single = (value: number) => ({ node: literal(value), code: value });
    switch (String.fromCharCode(code)) {
      case 'd':
        return classOf(DIGIT, false);
      case 'D':
        return classOf(DIGIT, true);
      case 'w':
        return classOf(WORD, false);
      case 'W':
        return classOf(WORD, true);
      case 's':
        return classOf(SPACE, false);
      case 'S':
        return classOf(SPACE, true);
      case 't':
        return single(0x09);
      case 'n':
        return single(0x0a);
      case 'r':
        return single(0x0d);
      case 'f':
        return single(0x0c);
      case 'v':
        return single(0x0b);
      case 'A':
        if (inClass) break;
        return { node: { kind: 'start' } };
      case 'z':
        if (inClass) break;
        return { node: { kind: 'end' } };
      case 'x':
        return single(this.hexEscape(at));
      default:
        // Punctuation escapes itself; letters and digits with no meaning here are refused (RE2 does too),
        // so `\1` (a backreference elsewhere) or `\b` (a word boundary) cannot be mistaken for a literal.
        if (code > 0x7f || !/[A-Za-z0-9]/.test(String.fromCharCode(code))) return single(code);
    }
    throw new PatternError(`invalid escape sequence \\${String.fromCodePoint(code)}`, at);
  }

  /** `\xHH` or `\x{H…}` after the `x`. */
  private hexEscape(at: number): number {
    const hex = (value: number | undefined) => value !== undefined && /[0-9A-Fa-f]/.test(String.fromCharCode(value));
    if (this.peek() === 0x7b) {
      let index = this.index + 1;
      let digits = '';
      while (hex(this.source[index]) && digits.length < 7) digits += String.fromCharCode(this.source[index++]!);
      if (this.source[index] !== 0x7d || digits === '' || Number.parseInt(digits, 16) > 0x10ffff) throw new PatternError('invalid \\x escape', at);
      this.index = index + 1;
      return Number.parseInt(digits, 16);
    }
    if (!hex(this.peek()) || !hex(this.peek(1))) throw new PatternError('invalid \\x escape', at);
    const value = Number.parseInt(String.fromCharCode(this.peek()!, this.peek(1)!), 16);
    this.index += 2;
    return value;
  }

  private characterClass(at: number): CharSet {
    let negated = false;
    if (this.peek() === 0x5e) {
      negated = true;
      this.index += 1;
    }
    const ranges: Array<readonly [number, number]> = [];
    let first = true;
    for (;;) {
      const code = this.peek();
      if (code === undefined) throw new PatternError('missing "]"', at);
      if (code === 0x5d && !first) {
        this.index += 1;
        return { ranges, negated };
      }
      first = false;
      if (code === 0x5b && this.peek(1) === 0x3a /* [: */) throw new PatternError('POSIX classes are not supported', this.index);
      const low = this.classMember(ranges);
      if (low === undefined) continue;
      if (this.peek() === 0x2d && this.peek(1) !== undefined && this.peek(1) !== 0x5d) {
        const dashAt = this.index;
        this.index += 1;
        const high = this.classMember(ranges);
        if (high === undefined || high < low) throw new PatternError('invalid character class range', dashAt);
        ranges.push([low, high]);
      } else ranges.push([low, low]);
    }
  }

  /** One member of a class: a character (returned) or a `\d`-like set (added to `ranges`). */
  private classMember(ranges: Array<readonly [number, number]>): number | undefined {
    const at = this.index;
    const code = this.peek()!;
    this.index += 1;
    if (code !== 0x5c) return code;
    const escaped = this.escape(at, true);
    if (escaped.code !== undefined) return escaped.code;
    const set = escaped.set;
    if (!set) throw new PatternError('invalid escape in character class', at);
    if (set.negated) ranges.push(...complement(set.ranges));
    else ranges.push(...set.ranges);
    return undefined;
  }
}

/** The complement of sorted, disjoint ranges over all code points. */
function complement(ranges: Array<readonly [number, number]>): Array<readonly [number, number]> {
  const result: Array<readonly [number, number]> = [];
  let next = 0;
  for (const [low, high] of ranges) {
    if (low > next) result.push([next, low - 1]);
    next = high + 1;
  }
  if (next <= 0x10ffff) result.push([next, 0x10ffff]);
  return result;
}

// ─── NFA ────────────────────────────────────────────────────────────────────────────────────

interface State {
  /** Consumes one character in this set, then goes to `next`. */
  set?: CharSet;
  next?: number;
  /** Only at the start (or end) of the command. */
  assert?: 'start' | 'end';
  /** Epsilon edges. */
  edges: number[];
  match?: true;
}

/** Most build steps for one pattern (repeats of empty groups add steps but no states). */
const MAX_BUILD_STEPS = 20_000;

class NfaBuilder {
  readonly states: State[] = [{ edges: [], match: true }];
  private steps = 0;

  add(state: State): number {
    if (this.states.length >= MAX_PATTERN_STATES) throw new PatternError(`the pattern is too complex (over ${MAX_PATTERN_STATES} states)`, 0);
    this.states.push(state);
    return this.states.length - 1;
  }

  /** The entry state of `node` continuing to `out` (built right to left). */
  build(node: Node, out: number): number {
    this.steps += 1;
    if (this.steps > MAX_BUILD_STEPS) throw new PatternError('the pattern is too complex', 0);
    switch (node.kind) {
      case 'empty':
        return out;
      case 'char':
        return this.add({ set: node.set, next: out, edges: [] });
      case 'start':
      case 'end':
        return this.add({ assert: node.kind, edges: [out] });
      case 'concat': {
        let entry = out;
        for (let index = node.items.length - 1; index >= 0; index -= 1) entry = this.build(node.items[index]!, entry);
        return entry;
      }
      case 'alternation':
        return this.add({ edges: node.options.map((option) => this.build(option, out)) });
      case 'repeat': {
        let entry = out;
        if (node.max === Infinity) {
          const loop = this.add({ edges: [] });
          this.states[loop]!.edges.push(this.build(node.node, loop), out);
          entry = loop;
        } else {
          for (let optional = node.max - node.min; optional > 0; optional -= 1) entry = this.add({ edges: [this.build(node.node, entry), out] });
        }
        for (let required = node.min; required > 0; required -= 1) entry = this.build(node.node, entry);
        return entry;
      }
    }
  }
}

/** A compiled pattern. */
export interface CompiledPattern {
  readonly type: WhitelistType;
  readonly source: string;
  /** NFA states: matching costs at most this many steps per character of the command. */
  readonly size: number;
  /** Whether the pattern matches the whole (normalised) command. */
  matches(command: string): boolean;
}

/** Compiles a pattern; throws {@link PatternError} when it is not valid for its type. */
export function compilePattern(type: WhitelistType, source: string): CompiledPattern {
  if (source.length === 0) throw new PatternError('empty pattern', 0);
  if (source.length > MAX_PATTERN_LENGTH) throw new PatternError(`pattern longer than ${MAX_PATTERN_LENGTH} characters`, MAX_PATTERN_LENGTH);
  const points = codePoints(source);
  const tree = type === 'glob' ? parseGlob(points) : new RegexParser(points).parse();
  const builder = new NfaBuilder();
  const entry = builder.build(tree, 0);
  const states = builder.states;
  return {
    type,
    source,
    size: states.length,
    matches: (command) => simulate(states, entry, codePoints(normaliseCommand(command))),
  };
}

/** Trimmed, with every run of whitespace one space: how a command is matched. */
export function normaliseCommand(command: string): string {
  return command.trim().replace(/\s+/g, ' ');
}

function simulate(states: State[], entry: number, input: number[]): boolean {
  let current: number[] = [];
  let seen = new Uint32Array(states.length);
  let generation = 1;
  let matched = false;

  const follow = (id: number, position: number, into: number[]) => {
    // Iterative depth-first closure: no recursion depth to exhaust on long epsilon chains.
    const stack = [id];
    while (stack.length > 0) {
      const stateId = stack.pop()!;
      if (seen[stateId] === generation) continue;
      seen[stateId] = generation;
      const state = states[stateId]!;
      if (state.match) {
        if (position === input.length) matched = true;
        continue;
      }
      if (state.assert === 'start' && position !== 0) continue;
      if (state.assert === 'end' && position !== input.length) continue;
      if (state.set) into.push(stateId);
      for (let edge = state.edges.length - 1; edge >= 0; edge -= 1) stack.push(state.edges[edge]!);
    }
  };

  follow(entry, 0, current);
  for (let position = 0; position < input.length && current.length > 0; position += 1) {
    const code = input[position]!;
    const next: number[] = [];
    generation += 1;
    if (generation === 0xffffffff) {
      seen = new Uint32Array(states.length);
      generation = 1;
    }
    for (const stateId of current) {
      const state = states[stateId]!;
      if (inSet(state.set!, code)) follow(state.next!, position + 1, next);
    }
    current = next;
  }
  return matched;
}
