import { describe, expect, it } from 'vitest';
import { AuditQueue, type AuditSendResult, type WebAuditEvent } from '../../src/webproxy/audit-queue.js';

function event(index: number): WebAuditEvent {
  return { type: 'web_request', outcome: 'deny', at: new Date(0).toISOString(), details: { index } };
}

describe('AuditQueue', () => {
  it('sends queued events in batches of at most batchSize, in order', async () => {
    const batches: number[][] = [];
    const queue = new AuditQueue({ batchSize: 3, send: async (events) => (batches.push(events.map((e) => e.details.index as number)), 'sent') });
    for (let index = 0; index < 7; index++) queue.push(event(index));
    await queue.flush();
    await queue.flush();
    await queue.flush();
    expect(batches).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(queue.length).toBe(0);
  });

  it('never holds more than its capacity: extra events are dropped and counted, push never blocks', () => {
    const dropped: Array<[number, string]> = [];
    const warnings: string[] = [];
    const queue = new AuditQueue({
      capacity: 2,
      send: () => new Promise<AuditSendResult>(() => undefined),
      onDrop: (count, cause) => dropped.push([count, cause]),
      logger: { warn: (_details, message) => warnings.push(String(message)), error: () => undefined },
    });
    expect(queue.push(event(1))).toBe(true);
    expect(queue.push(event(2))).toBe(true);
    expect(queue.push(event(3))).toBe(false);
    expect(queue.push(event(4))).toBe(false);
    expect(queue.length).toBe(2);
    expect(dropped).toEqual([
      [1, 'full'],
      [1, 'full'],
    ]);
    // Logged once per interval, not per event.
    expect(warnings).toEqual(['audit queue full: dropping web audit events']);
  });

  it('keeps a batch that failed for a transient reason and backs off before retrying', async () => {
    const results: AuditSendResult[] = ['retry', 'sent'];
    let calls = 0;
    const queue = new AuditQueue({ send: async () => (calls++, results.shift()!) });
    queue.push(event(1));
    await queue.flush();
    expect(queue.length).toBe(1);
    await queue.flush();
    expect(calls).toBe(1); // still backing off
    await queue.flush(true);
    expect(calls).toBe(2);
    expect(queue.length).toBe(0);
  });

  it('treats a thrown send as transient', async () => {
    const queue = new AuditQueue({ send: async () => Promise.reject(new Error('down')), logger: { warn: () => undefined, error: () => undefined } });
    queue.push(event(1));
    await queue.flush();
    expect(queue.length).toBe(1);
  });

  it('drops (and counts) a batch the control plane rejects, so it cannot block the queue', async () => {
    const dropped: number[] = [];
    const queue = new AuditQueue({ send: async () => 'rejected', onDrop: (count) => dropped.push(count), logger: { warn: () => undefined, error: () => undefined } });
    queue.push(event(1));
    queue.push(event(2));
    await queue.flush();
    expect(queue.length).toBe(0);
    expect(dropped).toEqual([2]);
  });

  it('sends one batch at a time', async () => {
    let release: (result: AuditSendResult) => void = () => undefined;
    let calls = 0;
    const queue = new AuditQueue({ batchSize: 1, send: () => (calls++, new Promise((resolve) => (release = resolve))) });
    queue.push(event(1));
    queue.push(event(2));
    const first = queue.flush();
    const second = queue.flush();
    expect(calls).toBe(1);
    release('sent');
    await Promise.all([first, second]);
    expect(queue.length).toBe(1);
  });

  it('stop() flushes what is queued within the deadline', async () => {
    const sent: number[] = [];
    const queue = new AuditQueue({ batchSize: 2, send: async (events) => (sent.push(events.length), 'sent') });
    for (let index = 0; index < 5; index++) queue.push(event(index));
    queue.start();
    await queue.stop(1000);
    expect(sent).toEqual([2, 2, 1]);
  });
});
