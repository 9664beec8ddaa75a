import { setTimeout as sleep } from 'node:timers/promises';

interface Waiter {
  known: number;
  timer: NodeJS.Timeout;
  settle(version: number | undefined): void;
}

/**
 * Waits for the policy version to move on, for any number of long-polls at once: while someone
 * waits, one loop per node reads the version from the database every `intervalMs` (so changes
 * made on other nodes are seen) and wakes the waiters whose version is outdated.
 */
export class VersionWatcher {
  readonly #waiters = new Set<Waiter>();
  #polling = false;
  #closed = false;

  constructor(
    private readonly readVersion: () => Promise<number>,
    private readonly intervalMs: number,
  ) {}

  /**
   * Resolves with the first version that differs from `known`, or undefined when `timeoutMs`
   * passes, `signal` aborts or the watcher closes first.
   */
  waitForChange(known: number, timeoutMs: number, signal?: AbortSignal): Promise<number | undefined> {
    if (this.#closed || timeoutMs <= 0 || signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onAbort = () => waiter.settle(undefined);
      const waiter: Waiter = {
        known,
        timer: setTimeout(() => waiter.settle(undefined), timeoutMs),
        settle: (version) => {
          if (!this.#waiters.delete(waiter)) return;
          clearTimeout(waiter.timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(version);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      void this.#poll();
    });
  }

  /** Wakes every waiter (with undefined) and stops polling. */
  close(): void {
    this.#closed = true;
    for (const waiter of [...this.#waiters]) waiter.settle(undefined);
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      while (this.#waiters.size > 0 && !this.#closed) {
        await sleep(this.intervalMs, undefined, { ref: false });
        if (this.#waiters.size === 0) break;
        let version: number;
        try {
          version = await this.readVersion();
        } catch {
          // The database is briefly unreachable: try again next round; timeouts still apply.
          continue;
        }
        for (const waiter of [...this.#waiters]) if (waiter.known !== version) waiter.settle(version);
      }
    } finally {
      this.#polling = false;
    }
  }
}
