import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { SequencedAuditEvent } from '../repository.js';
import { jsonLine } from './format.js';
import { SINK_QUEUE_CAPACITY, type AuditSink, type SinkStats } from './sink.js';

/** Appends every event as one JSON line to a file (opened in append mode, created if absent). */
export class JsonlSink implements AuditSink {
  readonly id: string;
  deliveredSeq = 0;
  private readonly queue: SequencedAuditEvent[] = [];
  private writing: Promise<void> | undefined;
  private closed = false;
  private failing = false;
  private readonly counters = { delivered: 0, failures: 0, connections: 0, dropped: 0 };

  constructor(
    private readonly file: string,
    private readonly log: FastifyBaseLogger,
  ) {
    this.file = path.resolve(file);
    this.id = `jsonl:${this.file}`;
  }

  room(): number {
    return this.closed ? 0 : SINK_QUEUE_CAPACITY - this.queue.length;
  }

  push(events: readonly SequencedAuditEvent[]): void {
    this.queue.push(...events);
    this.writing ??= this.drain().finally(() => {
      this.writing = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, 200);
      try {
        await fs.appendFile(this.file, batch.map((item) => jsonLine(item.event)).join(''), { encoding: 'utf8', mode: 0o600 });
      } catch (error) {
        this.counters.failures += 1;
        if (!this.failing) this.log.warn({ sink: this.id, code: (error as NodeJS.ErrnoException).code }, 'audit export: cannot append to the JSON-lines file; retrying');
        this.failing = true;
        // Kept queued: the next push (the exporter's next poll) retries.
        return;
      }
      if (this.failing) this.log.info({ sink: this.id }, 'audit export: JSON-lines file writable again');
      this.failing = false;
      this.queue.splice(0, batch.length);
      this.counters.delivered += batch.length;
      this.deliveredSeq = batch[batch.length - 1]!.seq;
    }
  }

  stats(): SinkStats {
    return { ...this.counters, queued: this.queue.length };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writing;
    if (this.queue.length > 0) this.push([]);
    await this.writing;
    this.counters.dropped += this.queue.length;
    this.queue.length = 0;
  }
}
