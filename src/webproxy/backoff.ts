/** Longest pause between retries of a control-plane call (registration, policy fetch). */
export const MAX_BACKOFF_MS = 30_000;

/** The next pause after a failure: 1 s, then doubling up to {@link MAX_BACKOFF_MS}. */
export function nextBackoff(current: number): number {
  return Math.min(current === 0 ? 1000 : current * 2, MAX_BACKOFF_MS);
}
