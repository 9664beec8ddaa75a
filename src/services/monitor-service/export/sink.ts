import type { SequencedAuditEvent } from '../repository.js';

/** Counters of one sink, for logs and tests (nothing secret). */
export interface SinkStats {
  /** Events written to the destination. */
  delivered: number;
  /** Events waiting in memory. */
  queued: number;
  /** Connections (or file opens) that failed or broke. */
  failures: number;
  /** Successful (re)connections. */
  connections: number;
  /** Events discarded without delivery (queued when the app stopped; resent on the next start). */
  dropped: number;
}

/**
 * Where exported audit events go. The exporter hands events in `seq` order, never more than
 * `room()`; a sink writes them in that order and reports the last one written as `deliveredSeq`,
 * which the exporter persists as its cursor. A sink never throws at its caller: a destination that
 * is down only stops `room()` from growing.
 */
export interface AuditSink {
  /** Names the destination (the cursor's key); holds no secret. */
  readonly id: string;
  /** The `seq` of the last event written (0: none yet). */
  readonly deliveredSeq: number;
  /** How many more events it accepts now. */
  room(): number;
  push(events: readonly SequencedAuditEvent[]): void;
  stats(): SinkStats;
  close(): Promise<void>;
}

/** Events a sink keeps in memory at most; the rest wait in the database. */
export const SINK_QUEUE_CAPACITY = 1000;
