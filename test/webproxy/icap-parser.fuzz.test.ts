import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { IcapParseError, IcapParser } from '../../src/webproxy/icap-parser.js';
import type { IcapParserEvent, IcapParserOptions } from '../../src/webproxy/icap-parser.js';

/**
 * Fuzzing the ICAP parser: whatever the bytes, it must either parse or throw IcapParseError,
 * make progress on every call, and hold no more than its limits allow.
 */

const SMALL_LIMITS: IcapParserOptions = { limits: { maxHeaderBytes: 512, maxBodyBytes: 2048 } };
const DEFAULT_OPTIONS: IcapParserOptions = {};

const GET_HEAD = 'GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n';
const POST_HEAD = 'POST http://example.com/up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\n';
const RESPONSE_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n';

const CORPUS: readonly string[] = [
  'OPTIONS icap://127.0.0.1:1344/reqmod ICAP/1.0\r\nHost: 127.0.0.1:1344\r\nAllow: 206\r\n\r\n',
  `REQMOD icap://127.0.0.1:1344/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\nEncapsulated: req-hdr=0, null-body=${GET_HEAD.length}\r\nAllow: 204\r\n\r\n${GET_HEAD}`,
  `REQMOD icap://127.0.0.1:1344/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body=${POST_HEAD.length}\r\nPreview: 1024\r\nAllow: 204\r\n\r\n${POST_HEAD}b\r\nhello world\r\n0; ieof\r\n\r\n`,
  `REQMOD icap://127.0.0.1:1344/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body=${POST_HEAD.length}\r\nPreview: 4\r\n\r\n${POST_HEAD}4\r\nhell\r\n0\r\n\r\n7\r\no world\r\n0\r\n\r\n`,
  `RESPMOD icap://127.0.0.1:1344/respmod ICAP/1.0\r\nEncapsulated: req-hdr=0, res-hdr=${GET_HEAD.length}, res-body=${
    GET_HEAD.length + RESPONSE_HEAD.length
  }\r\n\r\n${GET_HEAD}${RESPONSE_HEAD}5;x=y\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
  `RESPMOD icap://h/respmod ICAP/1.0\r\nEncapsulated: res-hdr=0, null-body=${RESPONSE_HEAD.length}\r\n\r\n${RESPONSE_HEAD}`,
];

/** Fragments that steer random input towards the interesting parts of the grammar. */
const TOKENS: readonly string[] = [
  'OPTIONS ',
  'REQMOD ',
  'RESPMOD ',
  'icap://h:1344/s ',
  'ICAP/1.0',
  'ICAP/1.1',
  '\r\n',
  '\r',
  '\n',
  '\r\n\r\n',
  'Encapsulated: ',
  'req-hdr=0',
  'res-hdr=',
  'req-body=',
  'res-body=',
  'null-body=',
  'opt-body=0',
  ', ',
  'Preview: ',
  'Allow: 204',
  '0',
  '4',
  '12',
  '65535',
  'ffffffffffffff',
  '; ieof',
  ';a="b;c"',
  'GET / HTTP/1.1',
  'HTTP/1.1 200 OK',
  'Host: x',
  ':',
  ' ',
  '\t',
  '\x00',
  '\xff',
];

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

let casesRun = 0;
let typedErrors = 0;
let messagesParsed = 0;
const started = Date.now();

afterAll(() => {
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `ICAP parser fuzz: ${casesRun} cases in ${seconds} s (${messagesParsed} messages parsed, ${typedErrors} typed errors)`,
  );
});

interface Outcome {
  events: IcapParserEvent[];
  error: IcapParseError | null;
}

/**
 * Feeds `input` cut at `cuts`, resolving each preview with the next of `continues` (cycling).
 * Checks the progress and memory invariants along the way.
 */
function drive(input: Buffer, cuts: readonly number[], continues: readonly boolean[], options: IcapParserOptions): Outcome {
  casesRun++;
  const parser = new IcapParser(options);
  const events: IcapParserEvent[] = [];
  const points = [...new Set(cuts.map((cut) => (input.length === 0 ? 0 : cut % (input.length + 1))))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let previous = 0;
  for (const point of [...points, input.length]) {
    pieces.push(input.subarray(previous, point));
    previous = point;
  }
  let decisions = 0;
  let bodyBytes = 0;
  // Every event except message/end/preview-end consumes at least one byte; those three need a head or a body first.
  const maxEvents = 2 * input.length + 8;
  try {
    for (const piece of pieces) {
      parser.push(piece);
      for (;;) {
        const event = parser.read();
        if (event) {
          events.push(event);
          if (event.type === 'body') bodyBytes += event.data.length;
          if (event.type === 'message') messagesParsed++;
          expect(events.length).toBeLessThanOrEqual(maxEvents);
          continue;
        }
        expect(parser.bufferedBytes).toBeLessThanOrEqual(parser.maxPendingBytes);
        if (!parser.awaitingPreviewDecision) break;
        const goOn = continues.length === 0 ? true : continues[decisions % continues.length]!;
        decisions++;
        if (goOn) parser.continueAfterPreview();
        else parser.finishAfterPreview();
        expect(decisions).toBeLessThanOrEqual(input.length + 1);
      }
    }
  } catch (error) {
    if (!(error instanceof IcapParseError)) throw error;
    expect([400, 413, 501, 505]).toContain(error.status);
    // The parser wraps unexpected internal exceptions with a cause; a fuzz case must never reach that net.
    expect(error.cause).toBeUndefined();
    typedErrors++;
    return { events, error };
  }
  // The parser never invents body bytes.
  expect(bodyBytes).toBeLessThanOrEqual(input.length);
  return { events, error: null };
}

type Mutation =
  | { kind: 'flip'; position: number; bit: number }
  | { kind: 'truncate'; position: number }
  | { kind: 'duplicate-crlf'; occurrence: number }
  | { kind: 'drop-crlf'; occurrence: number }
  | { kind: 'huge-chunk'; occurrence: number; size: string }
  | { kind: 'offsets'; values: number[] }
  | { kind: 'insert'; position: number; bytes: Uint8Array }
  | { kind: 'delete'; position: number; length: number }
  | { kind: 'token'; position: number; token: string };

const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), position: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), position: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate-crlf' as const), occurrence: fc.nat() }),
  fc.record({ kind: fc.constant('drop-crlf' as const), occurrence: fc.nat() }),
  fc.record({
    kind: fc.constant('huge-chunk' as const),
    occurrence: fc.nat(),
    size: fc.constantFrom('ffffffff', 'fffffffffffff', 'ffffffffffffffff', '7fffffffffffffffffff', '100000', '0000000000000001'),
  }),
  fc.record({
    kind: fc.constant('offsets' as const),
    values: fc.array(fc.oneof(fc.nat({ max: 300 }), fc.constantFrom(0, 1, 65_536, 2_147_483_647, 9_999_999_999)), {
      minLength: 1,
      maxLength: 4,
    }),
  }),
  fc.record({ kind: fc.constant('insert' as const), position: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), position: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('token' as const), position: fc.nat(), token: fc.constantFrom(...TOKENS) }),
);

function nthIndex(text: string, needle: string, occurrence: number): number {
  const count = text.split(needle).length - 1;
  if (count === 0) return -1;
  let index = -1;
  for (let seen = 0; seen <= occurrence % count; seen++) index = text.indexOf(needle, index + 1);
  return index;
}

function mutate(text: string, mutation: Mutation): string {
  const at = (position: number): number => (text.length === 0 ? 0 : position % (text.length + 1));
  switch (mutation.kind) {
    case 'flip': {
      if (text.length === 0) return text;
      const index = mutation.position % text.length;
      const flipped = String.fromCharCode(text.charCodeAt(index) ^ (1 << mutation.bit));
      return text.slice(0, index) + flipped + text.slice(index + 1);
    }
    case 'truncate':
      return text.slice(0, at(mutation.position));
    case 'duplicate-crlf': {
      const index = nthIndex(text, '\r\n', mutation.occurrence);
      return index < 0 ? text : text.slice(0, index) + '\r\n' + text.slice(index);
    }
    case 'drop-crlf': {
      const index = nthIndex(text, '\r\n', mutation.occurrence);
      return index < 0 ? text : text.slice(0, index) + text.slice(index + 2);
    }
    case 'huge-chunk': {
      // Replace the size of one chunk-size line (a hex number at the start of a line after the heads).
      const lines = text.split('\r\n');
      const candidates = lines.map((line, index) => (/^[0-9a-fA-F]+(;.*)?$/.test(line) ? index : -1)).filter((i) => i >= 0);
      if (candidates.length === 0) return text;
      const line = candidates[mutation.occurrence % candidates.length]!;
      lines[line] = lines[line]!.replace(/^[0-9a-fA-F]+/, mutation.size);
      return lines.join('\r\n');
    }
    case 'offsets': {
      let next = 0;
      return text.replace(/^(Encapsulated: )(.*)$/m, (_, prefix: string, value: string) => {
        const rewritten = value.replace(/=\d+/g, () => `=${mutation.values[next++ % mutation.values.length]}`);
        return prefix + rewritten;
      });
    }
    case 'insert': {
      const index = at(mutation.position);
      return text.slice(0, index) + Buffer.from(mutation.bytes).toString('latin1') + text.slice(index);
    }
    case 'delete': {
      const index = at(mutation.position);
      return text.slice(0, index) + text.slice(index + mutation.length);
    }
    case 'token': {
      const index = at(mutation.position);
      return text.slice(0, index) + mutation.token + text.slice(index);
    }
  }
}

const cutsArbitrary = fc.array(fc.nat(), { maxLength: 6 });
const continuesArbitrary = fc.array(fc.boolean(), { maxLength: 4 });
const optionsArbitrary = fc.constantFrom(SMALL_LIMITS, DEFAULT_OPTIONS);

describe('IcapParser fuzzing', () => {
  it('survives random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), cutsArbitrary, continuesArbitrary, optionsArbitrary, (bytes, cuts, continues, options) => {
        drive(Buffer.from(bytes), cuts, continues, options);
      }),
      { numRuns: 2500 },
    );
  });

  it('survives random sequences of ICAP fragments', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }),
        cutsArbitrary,
        continuesArbitrary,
        optionsArbitrary,
        (tokens, cuts, continues, options) => {
          drive(latin1(tokens.join('')), cuts, continues, options);
        },
      ),
      { numRuns: 2500 },
    );
  });

  it('survives mutated valid messages', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: CORPUS.length - 1 }), { minLength: 1, maxLength: 3 }),
        fc.array(mutationArbitrary, { minLength: 1, maxLength: 4 }),
        cutsArbitrary,
        continuesArbitrary,
        optionsArbitrary,
        (picks, mutations, cuts, continues, options) => {
          const text = mutations.reduce(mutate, picks.map((pick) => CORPUS[pick]!).join(''));
          drive(latin1(text), cuts, continues, options);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('parses unmutated message streams identically however they are cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: CORPUS.length - 1 }), { minLength: 1, maxLength: 4 }),
        cutsArbitrary,
        (picks, cuts) => {
          const input = latin1(picks.map((pick) => CORPUS[pick]!).join(''));
          const whole = drive(input, [], [true], DEFAULT_OPTIONS);
          const split = drive(input, cuts, [true], DEFAULT_OPTIONS);
          expect(whole.error).toBeNull();
          expect(split.error).toBeNull();
          expect(summarise(split.events)).toEqual(summarise(whole.events));
          expect(whole.events.filter((event) => event.type === 'message')).toHaveLength(picks.length);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('ran at least 10,000 cases', () => {
    expect(casesRun).toBeGreaterThanOrEqual(10_000);
  });
});

function summarise(events: readonly IcapParserEvent[]): string[] {
  const summary: string[] = [];
  for (const event of events) {
    if (event.type === 'body') {
      const last = summary[summary.length - 1];
      if (last?.startsWith('body:')) summary[summary.length - 1] = last + event.data.toString('latin1');
      else summary.push(`body:${event.data.toString('latin1')}`);
    } else if (event.type === 'message') {
      summary.push(`message:${event.message.method} ${event.message.uri} ${event.message.httpRequest?.raw.toString('latin1') ?? ''}`);
    } else {
      summary.push(JSON.stringify(event));
    }
  }
  return summary;
}
