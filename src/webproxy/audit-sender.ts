/**
 * Web audit events on their way to the control plane: queued in memory, sent in batches once
 * registered, and kept in the state directory for the next start when they could not be delivered.
 */
import type { Logger } from 'pino';
import { AuditQueue, type AuditSendResult, type WebAuditEvent } from './audit-queue.js';
import type { ControlPlaneClient, TokenManager } from './control-plane-client.js';
import type { WebProxyMetrics } from './metrics.js';
import type { StateDirectory } from './state.js';

/** How long {@link AuditSender.stop} keeps sending before it keeps the rest for the next start. */
const STOP_FLUSH_MS = 2000;

export interface AuditSenderOptions {
  state: StateDirectory;
  client: Pick<ControlPlaneClient, 'sendAudit'>;
  tokens: Pick<TokenManager, 'get' | 'invalidate'>;
  /** Whether there are credentials to send with; until then every batch waits. */
  registered: () => boolean;
  metrics: WebProxyMetrics;
  logger: Logger;
}

export class AuditSender {
  readonly #options: AuditSenderOptions;
  readonly #queue: AuditQueue;

  /** Queues the events a previous run could not deliver. */
  constructor(options: AuditSenderOptions) {
    this.#options = options;
    const { state, metrics, logger } = options;
    this.#queue = new AuditQueue({
      send: (events) => this.#send(events),
      onDrop: (count) => metrics.auditDropped.inc({}, count),
      onSent: (count) => metrics.auditSent.inc({}, count),
      logger,
    });
    const pending = state.takePendingAudit();
    for (const event of pending) this.#queue.push(event);
    if (pending.length > 0) logger.info({ events: pending.length }, 'queued audit events a previous run could not deliver');
  }

  /** Events waiting to be sent. */
  get length(): number {
    return this.#queue.length;
  }

  push(event: WebAuditEvent): void {
    this.#queue.push(event);
  }

  /** Starts sending (once registered). */
  start(): void {
    this.#queue.start();
  }

  /** Sends for a short while, then keeps what is left in the state directory. */
  async stop(): Promise<void> {
    const { state, metrics, logger } = this.#options;
    await this.#queue.stop(STOP_FLUSH_MS);
    if (this.#queue.length === 0) return;
    const undelivered = this.#queue.drain();
    try {
      state.writePendingAudit(undelivered);
      logger.warn({ events: undelivered.length }, 'kept undelivered audit events for the next start');
    } catch (error) {
      metrics.auditDropped.inc({}, undelivered.length);
      logger.error({ err: error, events: undelivered.length }, 'could not keep undelivered audit events');
    }
  }

  async #send(events: WebAuditEvent[]): Promise<AuditSendResult> {
    const { client, tokens, registered, metrics, logger } = this.#options;
    if (!registered()) return 'retry';
    let token: string;
    try {
      token = await tokens.get();
    } catch {
      metrics.controlPlaneErrors.inc({ operation: 'token' });
      return 'retry';
    }
    let status: number;
    try {
      status = await client.sendAudit(token, events);
    } catch (error) {
      metrics.controlPlaneErrors.inc({ operation: 'audit' });
      logger.debug({ err: error }, 'audit batch not delivered');
      return 'retry';
    }
    if (status === 200) return 'sent';
    metrics.controlPlaneErrors.inc({ operation: 'audit' });
    if (status === 401) {
      tokens.invalidate(token);
      return 'retry';
    }
    if (status === 400) return 'rejected';
    return 'retry';
  }
}
