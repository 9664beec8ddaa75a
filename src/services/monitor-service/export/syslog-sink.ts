import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import type { FastifyBaseLogger } from 'fastify';
import type { SequencedAuditEvent } from '../repository.js';
import { octetCountedFrame, syslogMessage, type SyslogOrigin } from './format.js';
import { SINK_QUEUE_CAPACITY, type AuditSink, type SinkStats } from './sink.js';

export interface SyslogTarget {
  protocol: 'tcp' | 'tls';
  host: string;
  port: number;
  /** PEM of the CA(s) the server's certificate must chain to (TLS); default the system's. */
  caPem?: string | undefined;
}

/** Parses `tcp://host:port` or `tls://host:port` (port defaults 514 / 6514). */
export function parseSyslogUrl(value: string): Omit<SyslogTarget, 'caPem'> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError('must be tcp://HOST:PORT or tls://HOST:PORT');
  }
  const protocol = url.protocol.slice(0, -1);
  if ((protocol !== 'tcp' && protocol !== 'tls') || url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || url.username !== '' || url.search !== '') {
    throw new TypeError('must be tcp://HOST:PORT or tls://HOST:PORT');
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { protocol, host, port: url.port === '' ? (protocol === 'tls' ? 6514 : 514) : Number(url.port) };
}

const FIRST_RETRY_MS = 500;
const LONGEST_RETRY_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * RFC 5424 messages over TCP (RFC 6587) or TLS (RFC 5425), octet-counted. One connection; when it
 * cannot be made or breaks, events stay queued (at most {@link SINK_QUEUE_CAPACITY}; the rest wait
 * in the database) and it reconnects with exponential backoff. An event counts as delivered once
 * written to the socket; one being written when the connection broke is sent again.
 */
export class SyslogSink implements AuditSink {
  readonly id: string;
  deliveredSeq = 0;
  private readonly queue: SequencedAuditEvent[] = [];
  private socket: net.Socket | undefined;
  private connected = false;
  private writing = false;
  private retryMs = FIRST_RETRY_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private down = false;
  private readonly origin: SyslogOrigin = { hostname: os.hostname(), procid: String(process.pid) };
  private readonly counters = { delivered: 0, failures: 0, connections: 0, dropped: 0 };

  constructor(
    private readonly target: SyslogTarget,
    private readonly log: FastifyBaseLogger,
  ) {
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    this.id = `syslog:${target.protocol}://${host}:${target.port}`;
  }

  room(): number {
    return this.closed ? 0 : SINK_QUEUE_CAPACITY - this.queue.length;
  }

  push(events: readonly SequencedAuditEvent[]): void {
    this.queue.push(...events);
    if (this.connected) this.pump();
    else if (this.socket === undefined && this.retryTimer === undefined && !this.closed) this.connect();
  }

  private connect(): void {
    const { protocol, host, port, caPem } = this.target;
    const onConnected = () => {
      this.connected = true;
      this.retryMs = FIRST_RETRY_MS;
      this.counters.connections += 1;
      socket.setTimeout(0);
      if (this.down) this.log.info({ sink: this.id }, 'audit export: syslog server reachable again');
      this.down = false;
      this.pump();
    };
    const socket =
      protocol === 'tls'
        ? tls.connect({ host, port, ...(caPem !== undefined ? { ca: caPem } : {}), ...(net.isIP(host) === 0 ? { servername: host } : {}) }, onConnected)
        : net.connect({ host, port }, onConnected);
    this.socket = socket;
    socket.setKeepAlive(true);
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error('connect timeout')));
    // The server has nothing to say; anything it sends is ignored.
    socket.on('data', () => undefined);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.counters.failures += 1;
      if (!this.down) this.log.warn({ sink: this.id, code: error.code ?? error.message }, 'audit export: syslog connection failed; events wait and are sent on reconnect');
      this.down = true;
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.connected = false;
      this.writing = false;
      if (this.closed) return;
      this.down = true;
      const delay = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, LONGEST_RETRY_MS);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (!this.closed) this.connect();
      }, delay);
      this.retryTimer.unref();
    });
  }

  /** Writes the queue's head, one event at a time, while connected. */
  private pump(): void {
    if (this.writing || !this.connected || this.queue.length === 0) return;
    const socket = this.socket!;
    const item = this.queue[0]!;
    this.writing = true;
    socket.write(octetCountedFrame(syslogMessage(item.event, this.origin)), (error) => {
      if (this.socket !== socket) return;
      this.writing = false;
      if (error) return; // 'close' follows; the event is sent again on reconnect.
      this.queue.shift();
      this.counters.delivered += 1;
      this.deliveredSeq = item.seq;
      this.pump();
    });
  }

  stats(): SinkStats {
    return { ...this.counters, queued: this.queue.length };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.counters.dropped += this.queue.length;
    this.queue.length = 0;
    const socket = this.socket;
    if (socket === undefined) return;
    this.socket = undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, 2000);
      timer.unref();
      socket.end(() => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
