import { readFileSync } from 'node:fs';
import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { Config } from '../../../config.js';
import type { Tables } from '../../../db/schema.js';
import { auditEventsAfter, readExportCursor, writeExportCursor, type SequencedAuditEvent } from '../repository.js';
import { JsonlSink } from './jsonl-sink.js';
import type { AuditSink } from './sink.js';
import { parseSyslogUrl, SyslogSink } from './syslog-sink.js';

export const EXPORT_POLL_INTERVAL_MS = 1000;
/**
 * How long a hole in `seq` is waited for before the events after it are sent. On PostgreSQL a
 * transaction can commit after a later one (sequence numbers are taken at insert): the hole fills
 * when it commits; a rolled-back insert leaves it for good.
 */
export const EXPORT_GAP_WAIT_MS = 5000;

/** The meta key of a sink's cursor. */
const cursorKey = (sink: AuditSink) => `audit_export_cursor:${sink.id}`;

interface SinkState {
  sink: AuditSink;
  /** Last seq handed to the sink. */
  read: number;
  /** Last seq persisted as delivered. */
  persisted: number;
  /** A hole right after `read`: the seq found after it and when it was first seen. */
  gap: { seq: number; since: number } | undefined;
}

/**
 * Ships committed audit events to the configured sinks: polls `audit_events` by `seq` past each
 * sink's cursor (in `meta`, one per destination), hands them to the sink as far as its bounded
 * queue has room, and stores the cursor once the sink has written them. Whatever a sink cannot
 * take waits in the database, so a destination that is down costs neither memory nor requests,
 * and nothing committed is skipped (delivery is at least once: an event written but not yet
 * recorded as delivered when the node stops is sent again).
 */
export class AuditExporter {
  private readonly states: SinkState[];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly db: Kysely<Tables>,
    sinks: readonly AuditSink[],
    private readonly log: FastifyBaseLogger,
    private readonly options: { intervalMs?: number; gapWaitMs?: number } = {},
  ) {
    this.states = sinks.map((sink) => ({ sink, read: 0, persisted: 0, gap: undefined }));
  }

  get sinks(): readonly AuditSink[] {
    return this.states.map((state) => state.sink);
  }

  async start(): Promise<void> {
    for (const state of this.states) {
      state.read = await readExportCursor(this.db, cursorKey(state.sink));
      state.persisted = state.read;
      this.log.info({ sink: state.sink.id, cursor: state.read }, 'audit export: started');
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.poll().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.options.intervalMs ?? EXPORT_POLL_INTERVAL_MS);
    this.timer.unref();
  }

  /** One round: persist what was delivered, then hand each sink what it has room for. Never throws. */
  async poll(): Promise<void> {
    for (const state of this.states) {
      try {
        await this.persist(state);
        const room = state.sink.room();
        const found = room > 0 ? await auditEventsAfter(this.db, state.read, room) : [];
        const ready = this.contiguous(state, found);
        state.sink.push(ready);
        if (ready.length > 0) state.read = ready[ready.length - 1]!.seq;
      } catch (error) {
        this.log.warn({ sink: state.sink.id, err: error }, 'audit export: poll failed; retrying');
      }
    }
  }

  /** The events up to the first hole in `seq` not yet waited out. */
  private contiguous(state: SinkState, found: SequencedAuditEvent[]): SequencedAuditEvent[] {
    let expected = state.read + 1;
    for (let index = 0; index < found.length; index += 1) {
      const seq = found[index]!.seq;
      // On first start (cursor 0) the first event found starts the stream.
      if (seq !== expected && !(state.read === 0 && index === 0)) {
        const now = Date.now();
        if (state.gap === undefined || state.gap.seq !== seq) state.gap = { seq, since: now };
        if (now - state.gap.since < (this.options.gapWaitMs ?? EXPORT_GAP_WAIT_MS)) return found.slice(0, index);
      }
      expected = seq + 1;
    }
    state.gap = undefined;
    return found;
  }

  private async persist(state: SinkState): Promise<void> {
    const delivered = state.sink.deliveredSeq;
    if (delivered > state.persisted) {
      await writeExportCursor(this.db, cursorKey(state.sink), delivered);
      state.persisted = delivered;
    }
  }

  /** Stops polling, closes the sinks and stores what they delivered. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
    for (const state of this.states) {
      await state.sink.close();
      try {
        await this.persist(state);
      } catch (error) {
        this.log.warn({ sink: state.sink.id, err: error }, 'audit export: cannot store the cursor');
      }
      const stats = state.sink.stats();
      this.log.info({ sink: state.sink.id, ...stats }, 'audit export: stopped');
    }
  }
}

/** The sinks the config names (none: no exporter). A CA file that cannot be read stops start-up. */
export function createAuditExporter(db: Kysely<Tables>, config: Config, log: FastifyBaseLogger, options: { intervalMs?: number; gapWaitMs?: number } = {}): AuditExporter | undefined {
  const sinks: AuditSink[] = [];
  const { jsonlFile, syslogUrl, syslogCaFile } = config.auditExport;
  if (jsonlFile !== undefined) sinks.push(new JsonlSink(jsonlFile, log));
  if (syslogUrl !== undefined) {
    const caPem = syslogCaFile === undefined ? undefined : readFileSync(syslogCaFile, 'utf8');
    sinks.push(new SyslogSink({ ...parseSyslogUrl(syslogUrl), caPem }, log));
  }
  return sinks.length === 0 ? undefined : new AuditExporter(db, sinks, log, options);
}
