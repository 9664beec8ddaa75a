/**
 * A role's contextual limit (the SDK's `ContextualLimit`, the role's `context`): when enabled, the
 * role applies only on the listed weekdays between `start_time` and `end_time` in `timezone`, and
 * only from an address inside one of `ip_masks`. Pure: the caller says when and from where.
 *
 * @module
 */
import { isIP } from 'node:net';

export interface ContextualLimit {
  enabled: boolean;
  /** Stored and returned as PrivX has it; the limit applies the same either way. */
  block_role?: boolean;
  /** Weekday names (`mon`/`monday`, any case); empty = every day. */
  validity: string[];
  /** `HH:MM` or `HH:MM:SS`; empty start = midnight, empty end = end of day. */
  start_time: string;
  end_time: string;
  /** IANA time zone; empty = UTC. */
  timezone: string;
  /** CIDRs or bare addresses; empty = any address. */
  ip_masks: string[];
}

/** The limit of a role that has none. */
export const NO_LIMIT: ContextualLimit = { enabled: false, validity: [], start_time: '', end_time: '', timezone: '', ip_masks: [] };

/**
 * A limit as stored (JSON). One that does not parse denies: an invalid limit allows nothing
 * ({@link limitAllows}), so a damaged row never silently lifts a limit.
 */
export function limitFromJson(text: string | null): ContextualLimit {
  try {
    const parsed = JSON.parse(text ?? '') as ContextualLimit;
    if (typeof parsed === 'object' && parsed !== null && typeof parsed.enabled === 'boolean') return parsed;
  } catch {
    // fall through
  }
  return { ...NO_LIMIT, enabled: true, timezone: 'invalid/invalid' };
}

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const FULL_WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

/** 0 (Sunday) … 6, or -1 when `name` is no weekday. */
function weekdayIndex(name: string): number {
  const lower = name.trim().toLowerCase();
  const short = WEEKDAYS.indexOf(lower as (typeof WEEKDAYS)[number]);
  return short >= 0 ? short : FULL_WEEKDAYS.indexOf(lower);
}

/** Seconds since midnight of `HH:MM[:SS]` (24:00 allowed as an end), null for empty, NaN when malformed. */
function secondsOfDay(text: string): number | null {
  if (text.trim() === '') return null;
  const match = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!match) return Number.NaN;
  const [hours, minutes, seconds] = [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
  if (minutes > 59 || seconds > 59 || hours > 24 || (hours === 24 && (minutes > 0 || seconds > 0))) return Number.NaN;
  return hours * 3600 + minutes * 60 + seconds;
}

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** A CIDR (`10.0.0.0/8`, `2001:db8::/32`) or bare address, or null. */
function parseMask(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const address = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const prefixText = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return null;
    prefix = Number(prefixText);
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The first problem of a limit as `{property, message}` (property relative to `context`), or null. */
export function limitProblem(limit: ContextualLimit): { property: string; message: string } | null {
  for (const [index, day] of limit.validity.entries()) {
    if (weekdayIndex(day) < 0) return { property: `validity[${index}]`, message: `"${day}" is not a weekday (mon … sun)` };
  }
  for (const field of ['start_time', 'end_time'] as const) {
    const seconds = secondsOfDay(limit[field]);
    if (Number.isNaN(seconds) || (field === 'start_time' && seconds === 86400)) return { property: field, message: `${field} must be HH:MM or HH:MM:SS` };
  }
  if (limit.timezone !== '' && !validTimeZone(limit.timezone)) return { property: 'timezone', message: `unknown time zone "${limit.timezone}"` };
  for (const [index, mask] of limit.ip_masks.entries()) {
    if (!parseMask(mask)) return { property: `ip_masks[${index}]`, message: `"${mask}" is not an IP address or CIDR` };
  }
  return null;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Weekday (0 = Sunday) and seconds since midnight of `at` in `zone`. */
function localTime(at: Date, zone: string): { weekday: number; seconds: number } {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    formatters.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((part) => [part.type, part.value]));
  const weekday = weekdayIndex(parts.weekday ?? '');
  return { weekday, seconds: Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second) };
}

/** The 4 or 16 bytes of an address `isIP` accepted (IPv6 may embed IPv4 and use `::`). */
function addressBytes(address: string, version: 4 | 6): number[] {
  if (version === 4) return address.split('.').map(Number);
  let text = address.split('%')[0]!;
  const tail: number[] = [];
  const embedded = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (embedded?.[1]) {
    tail.push(...embedded[1].split('.').map(Number));
    text = `${text.slice(0, -embedded[1].length)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = words.flatMap((word) => [word >> 8, word & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

function inMask(bytes: readonly number[], mask: { address: string; prefix: number; family: 'ipv4' | 'ipv6' }): boolean {
  const maskBytes = addressBytes(mask.address, mask.family === 'ipv4' ? 4 : 6);
  if (maskBytes.length !== bytes.length) return false;
  for (let bit = 0; bit < mask.prefix; bit += 1) {
    const index = bit >> 3;
    const shift = 7 - (bit & 7);
    if (((bytes[index]! >> shift) & 1) !== ((maskBytes[index]! >> shift) & 1)) return false;
  }
  return true;
}

function addressAllowed(address: string, masks: readonly string[]): boolean {
  if (masks.length === 0) return true;
  const ip = address.trim();
  const candidates: number[][] = [];
  const version = isIP(ip);
  if (version === 4 || version === 6) candidates.push(addressBytes(ip, version));
  // IPv4 clients on a dual-stack socket appear as IPv4-mapped IPv6 addresses: IPv4 masks match them too.
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped?.[1] && isIP(mapped[1]) === 4) candidates.push(addressBytes(mapped[1], 4));
  return masks.some((text) => {
    const mask = parseMask(text);
    return mask !== null && candidates.some((bytes) => inMask(bytes, mask));
  });
}

function timeAllowed(limit: ContextualLimit, at: Date): boolean {
  const days = new Set(limit.validity.map(weekdayIndex));
  const dayAllowed = (day: number) => days.size === 0 || days.has(day);
  const start = secondsOfDay(limit.start_time) ?? 0;
  const end = secondsOfDay(limit.end_time) ?? 86400;
  const { weekday, seconds } = localTime(at, limit.timezone === '' ? 'UTC' : limit.timezone);
  if (start === end) return dayAllowed(weekday);
  if (start < end) return dayAllowed(weekday) && seconds >= start && seconds < end;
  // Overnight (22:00–06:00): the hours after midnight belong to the previous day's window.
  return (seconds >= start && dayAllowed(weekday)) || (seconds < end && dayAllowed((weekday + 6) % 7));
}

/**
 * Whether a role with this limit applies at `at` to a client at `address` (as Fastify reports
 * `request.ip`). A disabled limit allows everything; an invalid one (never stored: see
 * {@link limitProblem}) allows nothing.
 */
export function limitAllows(limit: ContextualLimit, at: Date, address: string): boolean {
  if (!limit.enabled) return true;
  if (limitProblem(limit)) return false;
  return addressAllowed(address, limit.ip_masks) && timeAllowed(limit, at);
}
