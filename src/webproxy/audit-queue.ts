/**
 * Audit events on their way to the control plane: a bounded in-memory queue flushed in batches.
 *
 * Traffic never waits for the audit trail: `push` is synchronous and O(1); when the queue is
 * full the event is dropped, counted and logged (rate-limited). Batches that fail for transient
 * reasons stay queued and are retried with backoff; a batch the control plane rejects as invalid
 * is dropped (and counted) so it cannot block everything behind it.
 */
import { MAX_AUDIT_BATCH, type AuditBatchEvent } from '../lib/contracts/audit-batch.js';

/**
 * One event as the web proxy reports it: an event of the batch contract
 * (src/lib/contracts/audit-batch.ts), narrowed to the types and outcomes the proxy produces.
 */
export type WebAuditEvent = AuditBatchEvent & {
  type: 'web_request' | 'web_file_transfer';
  outcome: 'allow' | 'deny';
  details: Record<string, unknown>;
};

/** What happened to a batch: stored, worth retrying later, or refused for good. */
export type AuditSendResult = 'sent' | 'retry' | 'rejected';

export interface AuditQueueOptions {
  /** Events held at most. Default 10,000. */
  capacity?: number;
  /** Events per batch; the control plane takes at most {@link MAX_AUDIT_BATCH}. Default 500. */
  batchSize?: number;
  /** How often queued events are sent. Default 2 s. */
  flushIntervalMs?: number;
  /** Longest pause between retries after failures. Default 60 s. */
  maxBackoffMs?: number;
  send: (events: WebAuditEvent[]) => Promise<AuditSendResult>;
  /** Called with the number of events dropped (queue full or rejected batch). */
  onDrop?: (count: number, cause: 'full' | 'rejected') => void;
  onSent?: (count: number) => void;
  logger?: { warn(details: object, message?: string): void; error(details: object, message?: string): void };
}

const DROP_LOG_INTERVAL_MS = 10_000;

export class AuditQueue {
  private readonly events: WebAuditEvent[] = [];
  private readonly capacity: number;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxBackoffMs: number;
  private readonly options: AuditQueueOptions;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private backoffMs = 0;
  private notBefore = 0;
  private droppedSinceLog = 0;
  private lastDropLog = 0;

  constructor(options: AuditQueueOptions) {
    this.options = options;
    this.capacity = options.capacity ?? 10_000;
    this.batchSize = Math.min(options.batchSize ?? 500, MAX_AUDIT_BATCH);
    this.flushIntervalMs = options.flushIntervalMs ?? 2000;
    this.maxBackoffMs = options.maxBackoffMs ?? 60_000;
  }

  /** Events waiting to be sent. */
  get length(): number {
    return this.events.length;
  }

  /** Queues an event; false (and counted as dropped) when the queue is full. Never blocks. */
  push(event: WebAuditEvent): boolean {
    if (this.events.length >= this.capacity) {
      this.options.onDrop?.(1, 'full');
      this.droppedSinceLog++;
      const now = Date.now();
      if (now - this.lastDropLog >= DROP_LOG_INTERVAL_MS) {
        this.options.logger?.warn({ dropped: this.droppedSinceLog, capacity: this.capacity }, 'audit queue full: dropping web audit events');
        this.lastDropLog = now;
        this.droppedSinceLog = 0;
      }
      return false;
    }
    this.events.push(event);
    return true;
  }

  /** Starts the periodic flush. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  /**
   * Sends one batch if there is one and no send is in flight (respecting the retry backoff unless
   * `force`). Resolves when that attempt is over.
   */
  async flush(force = false): Promise<void> {
    if (this.inFlight) return this.inFlight;
    if (this.events.length === 0) return;
    if (!force && Date.now() < this.notBefore) return;
    this.inFlight = this.sendBatch().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async sendBatch(): Promise<void> {
    const batch = this.events.slice(0, this.batchSize);
    let result: AuditSendResult;
    try {
      result = await this.options.send(batch);
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'sending web audit events failed');
      result = 'retry';
    }
    if (result === 'retry') {
      this.backoffMs = Math.min(this.backoffMs === 0 ? 1000 : this.backoffMs * 2, this.maxBackoffMs);
      this.notBefore = Date.now() + this.backoffMs;
      return;
    }
    this.events.splice(0, batch.length);
    this.backoffMs = 0;
    this.notBefore = 0;
    if (result === 'sent') {
      this.options.onSent?.(batch.length);
    } else {
      this.options.onDrop?.(batch.length, 'rejected');
      this.options.logger?.error({ dropped: batch.length }, 'the control plane rejected a batch of web audit events; dropped');
    }
    // More queued than one batch: keep going without waiting for the next tick.
    if (this.events.length >= this.batchSize) setImmediate(() => void this.flush());
  }

  /** Removes and returns everything queued (to persist it at shutdown). */
  drain(): WebAuditEvent[] {
    return this.events.splice(0, this.events.length);
  }

  /** Stops the timer and tries to send what is queued until `deadlineMs` passes. */
  async stop(deadlineMs = 3000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const deadline = Date.now() + deadlineMs;
    while (this.events.length > 0 && Date.now() < deadline) {
      const attempt = this.flush(true);
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now())).unref());
      const outcome = await Promise.race([attempt.then(() => 'done' as const), timeout]);
      if (outcome === 'timeout' || this.backoffMs > 0) break;
    }
  }
}
