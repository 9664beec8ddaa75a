/** A source of the current time; tests inject one they can move. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock whose time only moves when told to (tests of expiry). */
export class ManualClock implements Clock {
  #millis: number;
  constructor(start: Date = new Date()) {
    this.#millis = start.getTime();
  }
  now(): Date {
    return new Date(this.#millis);
  }
  advance(seconds: number): void {
    this.#millis += seconds * 1000;
  }
}

/** RFC 3339 UTC with milliseconds; sorts lexicographically in time order. */
export function timestamp(date: Date): string {
  return date.toISOString();
}

export function addSeconds(date: Date, seconds: number): Date {
  return new Date(date.getTime() + seconds * 1000);
}
