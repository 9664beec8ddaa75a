import { systemClock, type Clock } from '../lib/time.js';
import type { WebProxyMetrics } from './metrics.js';

/** What /healthz reports about the control plane: the last call that worked and the last failure since. */
export class ControlPlaneStatus {
  #lastSuccess: Date | null = null;
  #lastError: string | null = null;

  constructor(
    private readonly metrics: WebProxyMetrics,
    private readonly clock: Clock = systemClock,
  ) {}

  get lastSuccess(): Date | null {
    return this.#lastSuccess;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  noteSuccess(): void {
    this.#lastSuccess = this.clock.now();
    this.#lastError = null;
  }

  /** Counts the failure in the metrics and keeps its message for /healthz. */
  noteError(operation: string, error: unknown): void {
    this.metrics.controlPlaneErrors.inc({ operation });
    this.#lastError = `${operation}: ${error instanceof Error ? error.message : String(error)}`;
  }
}
