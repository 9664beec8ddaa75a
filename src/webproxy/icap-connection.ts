/**
 * One ICAP connection: feeds socket bytes to the parser, runs the policy handler for each
 * message in turn and writes the answers back.
 *
 * Messages are served strictly one after another, so pipelined requests queue in the parser
 * while the current one is decided. The socket is paused whenever unread input piles up, which
 * bounds memory per connection to the parser's buffer plus whatever a `need-body` decision holds.
 */
import type { Socket } from 'node:net';
import { hasHttpHeader } from './icap-headers.js';
import { IcapParseError, IcapParser } from './icap-parser.js';
import type { IcapParserEvent } from './icap-parser.js';
import {
  CHUNK_TERMINATOR,
  LAST_CHUNK,
  chunkHeader,
  encodeChunkedBody,
  httpReason,
  serializeHttpRequestHead,
  serializeHttpResponseHead,
  serializeIcapContinue,
  serializeIcapError,
  serializeIcapNoContent,
  serializeIcapOk,
  serializeIcapOptionsResponse,
} from './icap-responses.js';
import type { IcapAdaptedMessage } from './icap-responses.js';
import type {
  HttpHeaderField,
  IcapBody,
  IcapBodyState,
  IcapDecision,
  IcapHandler,
  IcapLimits,
  IcapLogger,
  IcapRequest,
  IcapRequestContext,
  IcapRespondDecision,
} from './icap-types.js';

/** Unread input above which the socket is paused while a message is being served. */
const HIGH_WATER_BYTES = 64 * 1024;
/** How long a closing socket may wait for the peer's FIN before it is destroyed. */
const LINGER_MS = 2000;

/** Settings for one {@link IcapConnection}. */
export interface IcapConnectionOptions {
  handler: IcapHandler;
  limits: IcapLimits;
  /** Inactivity after which the connection is closed; 0 disables the timeout. */
  idleTimeoutMs: number;
  /** ISTag for answers when the handler has no `serviceTag`. */
  defaultIstag: string;
  /** Advertised as `Max-Connections` when the service options do not say. */
  maxConnections?: number;
  logger: IcapLogger;
}

/** The peer went away or the connection was torn down; nothing more can be written. */
class ConnectionGone extends Error {
  override readonly name = 'ConnectionGone';
}

/** The policy handler threw, rejected or answered something unusable. */
class HandlerFailure extends Error {
  override readonly name = 'HandlerFailure';
}

/** Serves ICAP messages arriving on one socket until either side closes it. */
export class IcapConnection {
  readonly socket: Socket;
  /** Settles once the socket has closed. */
  readonly closed: Promise<void>;

  private readonly options: IcapConnectionOptions;
  private readonly parser: IcapParser;
  private readonly abort = new AbortController();
  private readonly context: IcapRequestContext;

  private wake: (() => void) | null = null;
  private peerEnded = false;
  private terminated = false;
  private shutdownRequested = false;
  private inHandler = false;
  private serving = false;
  /** A final (non-100) response head went out for the current message, so an error can no longer be reported in-band. */
  private responseStarted = false;
  private noContentCache: { istag: string; bytes: Buffer } | null = null;

  constructor(socket: Socket, options: IcapConnectionOptions) {
    this.socket = socket;
    this.options = options;
    this.parser = new IcapParser({ limits: options.limits });
    this.context = {
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      signal: this.abort.signal,
    };
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.setNoDelay(true);
    if (options.idleTimeoutMs > 0) socket.setTimeout(options.idleTimeoutMs);
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('end', () => {
      this.peerEnded = true;
      // Squid only closes a connection it has given up on, so pending look-ups can stop; answers
      // still go out to a client that merely half-closed.
      this.abort.abort();
      this.notify();
    });
    socket.on('error', (error) => this.options.logger.debug({ err: error }, 'ICAP socket error'));
    socket.on('timeout', () => this.onTimeout());
    socket.once('close', () => {
      this.terminated = true;
      this.abort.abort();
      this.notify();
    });
  }

  /** Starts serving; failures are answered on the wire and logged, never thrown. */
  start(): void {
    void this.run();
  }

  /** Closes once the message in progress (if any) has been answered. */
  shutdown(): void {
    this.shutdownRequested = true;
    if (!this.serving && this.wake !== null) this.endGracefully();
  }

  /** Closes immediately. */
  destroy(): void {
    this.terminated = true;
    this.socket.destroy();
  }

  private onData(data: Buffer): void {
    if (this.terminated) return;
    try {
      this.parser.push(data);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.wake === null && this.parser.bufferedBytes >= HIGH_WATER_BYTES) this.socket.pause();
    this.notify();
  }

  private onTimeout(): void {
    // A slow policy look-up is not the peer being idle; the timer re-arms on the next write.
    if (this.inHandler && !this.terminated) return;
    if (!this.terminated && !this.serving && this.parser.idle) {
      this.options.logger.debug({ remoteAddress: this.context.remoteAddress }, 'closing idle ICAP connection');
      this.endGracefully();
      return;
    }
    this.destroy();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private endGracefully(): void {
    if (this.terminated) return;
    this.terminated = true;
    this.abort.abort();
    this.socket.end();
    this.socket.resume();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        if (this.shutdownRequested) {
          this.endGracefully();
          return;
        }
        const event = await this.next();
        if (event === null) {
          this.endGracefully();
          return;
        }
        if (event.type !== 'message') throw new Error(`parser out of step: ${event.type} between messages`);
        this.serving = true;
        this.responseStarted = false;
        if (event.message.method === 'OPTIONS') await this.serveOptions(event.message);
        else await this.serveModification(event.message);
        this.serving = false;
      }
    } catch (error) {
      this.fail(error);
    }
  }

  /** The next parser event, waiting for bytes as needed; null once the peer has closed. */
  private async next(): Promise<IcapParserEvent | null> {
    for (;;) {
      if (this.terminated) throw new ConnectionGone('connection closed');
      const event = this.parser.read();
      if (event) return event;
      if (this.peerEnded) return null;
      if (this.socket.isPaused()) this.socket.resume();
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** The next event of the current message; the peer closing here is an error. */
  private async nextInMessage(): Promise<IcapParserEvent> {
    const event = await this.next();
    if (event === null) throw new ConnectionGone('peer closed in the middle of a message');
    if (event.type === 'message') throw new Error('parser out of step: message inside a message');
    return event;
  }

  private fail(error: unknown): void {
    if (this.terminated) {
      this.socket.destroy();
      return;
    }
    if (error instanceof ConnectionGone) {
      this.destroy();
      return;
    }
    let status = 500;
    if (error instanceof IcapParseError) {
      status = error.status;
      this.options.logger.warn({ err: error, remoteAddress: this.context.remoteAddress }, 'malformed ICAP request');
    } else if (error instanceof HandlerFailure && this.abort.signal.aborted) {
      this.options.logger.debug({ err: error.cause ?? error }, 'ICAP handler failed after the client went away');
    } else if (error instanceof HandlerFailure) {
      this.options.logger.error({ err: error.cause ?? error }, 'ICAP handler failed');
    } else {
      this.options.logger.error({ err: error }, 'ICAP connection failed');
    }
    if (this.responseStarted || this.socket.destroyed || !this.socket.writable) {
      this.destroy();
      return;
    }
    this.terminated = true;
    this.abort.abort();
    this.socket.end(serializeIcapError(status, { istag: this.options.defaultIstag }));
    // Keep reading (and ignoring) so the peer is not blocked on a full window before it sees our answer.
    this.socket.resume();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  /** Writes buffers as one batch; false when the caller should wait for drain. */
  private write(buffers: readonly Buffer[]): boolean {
    if (this.terminated) throw new ConnectionGone('connection closed');
    let flowing = true;
    this.socket.cork();
    for (const buffer of buffers) flowing = this.socket.write(buffer);
    this.socket.uncork();
    return flowing;
  }

  private async waitForDrain(): Promise<void> {
    if (this.terminated) throw new ConnectionGone('connection closed');
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
    if (this.terminated) throw new ConnectionGone('connection closed');
  }

  private async callHandler<T>(call: () => T | Promise<T>): Promise<T> {
    this.inHandler = true;
    try {
      return await call();
    } catch (error) {
      throw new HandlerFailure('handler threw', { cause: error });
    } finally {
      this.inHandler = false;
    }
  }

  private istagFor(service: string): string {
    const handler = this.options.handler;
    if (!handler.serviceTag) return this.options.defaultIstag;
    try {
      return handler.serviceTag(service);
    } catch (error) {
      throw new HandlerFailure('serviceTag threw', { cause: error });
    }
  }

  private noContent(istag: string): Buffer {
    if (this.noContentCache?.istag !== istag) this.noContentCache = { istag, bytes: serializeIcapNoContent(istag) };
    return this.noContentCache.bytes;
  }

  private async serveOptions(message: IcapRequest): Promise<void> {
    // Nothing in an OPTIONS body is used; reading through to its end keeps the parser in step.
    await this.drainBody(true);
    const answer = await this.callHandler(() => this.options.handler.options(message.service, message, this.context));
    let response: Buffer;
    try {
      response =
        answer === null
          ? serializeIcapError(404, { istag: this.options.defaultIstag, close: false })
          : serializeIcapOptionsResponse(answer, {
              ...(this.options.maxConnections !== undefined ? { maxConnections: this.options.maxConnections } : {}),
            });
    } catch (error) {
      throw new HandlerFailure('unusable OPTIONS answer', { cause: error });
    }
    this.responseStarted = true;
    this.write([response]);
  }

  private async serveModification(message: IcapRequest): Promise<void> {
    const istag = this.istagFor(message.service);
    const held: Buffer[] = [];
    let heldBytes = 0;
    let state: IcapBodyState;
    /** The parser stopped after a preview and waits to hear whether the rest is wanted. */
    let previewPending = false;
    /** The parser delivered the message's end; no body bytes remain on the wire. */
    let bodyFinished = !message.hasBody;
    /** 100 Continue was sent, so the exchange is no longer a preview. */
    let continued = false;

    if (!message.hasBody) {
      await this.expectEnd();
      state = 'absent';
    } else if (message.preview !== null) {
      for (;;) {
        const event = await this.nextInMessage();
        if (event.type === 'body') {
          held.push(event.data);
          heldBytes += event.data.length;
        } else if (event.type === 'preview-end') {
          if (event.ieof) {
            await this.expectEnd();
            bodyFinished = true;
            state = 'complete';
          } else {
            previewPending = true;
            state = 'preview';
          }
          break;
        } else {
          throw new Error('parser out of step: preview without preview-end');
        }
      }
    } else {
      state = 'unread';
    }

    let decision = await this.decide(message, makeBody(state, held, heldBytes));
    if (decision.kind === 'need-body') {
      if (state !== 'unread' && state !== 'preview') {
        throw new HandlerFailure(`need-body answered for a body that is ${state}`);
      }
      if (previewPending) {
        this.write([serializeIcapContinue()]);
        this.parser.continueAfterPreview();
        previewPending = false;
        continued = true;
      }
      let truncated = false;
      const readLimit = Math.min(decision.maxBytes ?? Infinity, this.options.limits.maxBodyBytes);
      if (heldBytes > readLimit) truncated = true;
      while (!bodyFinished && !truncated) {
        const event = await this.nextInMessage();
        if (event.type === 'end') {
          bodyFinished = true;
        } else if (event.type === 'body') {
          held.push(compact(event.data));
          heldBytes += event.data.length;
          if (heldBytes > readLimit) {
            // Stop reading: what is held is echoed later, the rest still waits on the wire.
            truncated = true;
            break;
          }
        } else {
          throw new Error('parser out of step: second preview-end');
        }
      }
      const body = truncated
        ? makeBody('truncated', ...limitChunks(held, readLimit))
        : makeBody('complete', held, heldBytes);
      decision = await this.decide(message, body);
      if (decision.kind === 'need-body') throw new HandlerFailure('need-body answered twice');
    }

    const stillPreview = message.preview !== null && !continued;
    const bodyEntity = message.hasBody ? (message.method === 'REQMOD' ? 'req-body' : 'res-body') : null;

    switch (decision.kind) {
      case 'unmodified': {
        if (previewPending) {
          this.parser.finishAfterPreview();
          this.finalWrite([this.noContent(istag)]);
          return;
        }
        if (message.allow204 || stillPreview) {
          await this.drainBody(!bodyFinished);
          this.finalWrite([this.noContent(istag)]);
          return;
        }
        const original: IcapAdaptedMessage =
          message.method === 'REQMOD'
            ? { ...(message.httpRequest ? { httpRequestHead: message.httpRequest.raw } : {}), body: bodyEntity }
            : { ...(message.httpResponse ? { httpResponseHead: message.httpResponse.raw } : {}), body: bodyEntity };
        this.finalWrite(serializeIcapOk(istag, original));
        if (bodyEntity !== null) await this.forwardBody(held, bodyFinished);
        return;
      }
      case 'modify-headers': {
        const head = this.modifiedHead(message, decision);
        if (previewPending) {
          this.write([serializeIcapContinue()]);
          this.parser.continueAfterPreview();
        }
        this.finalWrite(serializeIcapOk(istag, { ...head, body: bodyEntity }));
        if (bodyEntity !== null) await this.forwardBody(held, bodyFinished);
        return;
      }
      case 'respond': {
        const response = this.replacementResponse(istag, decision);
        await this.endMessageUnread(previewPending, bodyFinished);
        this.finalWrite(response);
        return;
      }
      case 'icap-error': {
        let response: Buffer;
        try {
          response = serializeIcapError(decision.status, {
            istag,
            close: false,
            ...(decision.reason !== undefined ? { reason: decision.reason } : {}),
          });
        } catch (error) {
          throw new HandlerFailure('unusable icap-error answer', { cause: error });
        }
        await this.endMessageUnread(previewPending, bodyFinished);
        this.finalWrite([response]);
        return;
      }
    }
  }

  private async decide(message: IcapRequest, body: IcapBody): Promise<IcapDecision> {
    const decision = await this.callHandler(() => this.options.handler.modify(message, body, this.context));
    const kind = (decision as { kind?: unknown } | null | undefined)?.kind;
    if (
      kind !== 'unmodified' &&
      kind !== 'need-body' &&
      kind !== 'modify-headers' &&
      kind !== 'respond' &&
      kind !== 'icap-error'
    ) {
      throw new HandlerFailure(`unknown decision ${String(kind)}`);
    }
    return decision;
  }

  private finalWrite(buffers: readonly Buffer[]): void {
    this.responseStarted = true;
    this.write(buffers);
  }

  /** Finishes a message whose body the answer does not use: end the preview, or read and drop the rest. */
  private async endMessageUnread(previewPending: boolean, bodyFinished: boolean): Promise<void> {
    if (previewPending) this.parser.finishAfterPreview();
    else await this.drainBody(!bodyFinished);
  }

  private async expectEnd(): Promise<void> {
    const event = await this.nextInMessage();
    if (event.type !== 'end') throw new Error(`parser out of step: ${event.type} after a body-less message`);
  }

  /**
   * Reads and discards the rest of the body. Answers that ignore the body still wait for its end
   * so the answer never races the client's upload: a client that stops sending on an early
   * answer and a server that waits for the rest would otherwise deadlock on a persistent connection.
   */
  private async drainBody(remaining: boolean): Promise<void> {
    if (!remaining) return;
    for (;;) {
      const event = await this.nextInMessage();
      if (event.type === 'end') return;
      if (event.type === 'preview-end') throw new Error('parser out of step: preview-end while draining');
    }
  }

  /** Writes the held chunks and then streams the rest of the body as it arrives. */
  private async forwardBody(held: readonly Buffer[], bodyFinished: boolean): Promise<void> {
    let flowing = true;
    for (const data of held) flowing = this.writeChunk(data);
    if (!bodyFinished) {
      for (;;) {
        if (!flowing) await this.waitForDrain();
        const event = await this.nextInMessage();
        if (event.type === 'end') break;
        if (event.type === 'body') flowing = this.writeChunk(event.data);
        else throw new Error('parser out of step: preview-end while forwarding');
      }
    }
    this.write([LAST_CHUNK]);
  }

  private writeChunk(data: Buffer): boolean {
    if (data.length === 0) return true;
    return this.write([chunkHeader(data.length), data, CHUNK_TERMINATOR]);
  }

  private modifiedHead(
    message: IcapRequest,
    decision: Extract<IcapDecision, { kind: 'modify-headers' }>,
  ): Omit<IcapAdaptedMessage, 'body'> {
    try {
      if (message.method === 'REQMOD') {
        if (!decision.httpRequestHeaders) throw new TypeError('REQMOD modify-headers needs httpRequestHeaders');
        return { httpRequestHead: serializeHttpRequestHead(decision.httpRequestHeaders) };
      }
      if (!decision.httpResponseHeaders) throw new TypeError('RESPMOD modify-headers needs httpResponseHeaders');
      return { httpResponseHead: serializeHttpResponseHead(decision.httpResponseHeaders) };
    } catch (error) {
      throw new HandlerFailure('unusable modify-headers answer', { cause: error });
    }
  }

  private replacementResponse(istag: string, decision: IcapRespondDecision): Buffer[] {
    try {
      const body =
        decision.body === undefined
          ? null
          : typeof decision.body === 'string'
            ? Buffer.from(decision.body, 'utf8')
            : decision.body;
      const headers: HttpHeaderField[] = Array.isArray(decision.headers)
        ? (decision.headers as readonly HttpHeaderField[]).map((header) => ({ name: header.name, value: header.value }))
        : Object.entries(decision.headers as Readonly<Record<string, string>>).map(([name, value]) => ({ name, value }));
      if (!hasHttpHeader(headers, 'Content-Length') && !hasHttpHeader(headers, 'Transfer-Encoding')) {
        headers.push({ name: 'Content-Length', value: String(body?.length ?? 0) });
      }
      const head = serializeHttpResponseHead({
        version: 'HTTP/1.1',
        status: decision.status,
        reason: decision.reason ?? httpReason(decision.status),
        headers,
      });
      const parts = serializeIcapOk(istag, { httpResponseHead: head, body: body ? 'res-body' : null });
      if (body) parts.push(...encodeChunkedBody(body));
      return parts;
    } catch (error) {
      throw new HandlerFailure('unusable respond answer', { cause: error });
    }
  }
}

function makeBody(state: IcapBodyState, chunks: readonly Buffer[], length: number): IcapBody {
  return {
    state,
    chunks,
    length,
    bytes: () => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length)),
  };
}

/** The chunks cut down to their first `limit` bytes, for the handler's view of a truncated body. */
function limitChunks(chunks: readonly Buffer[], limit: number): [Buffer[], number] {
  const limited: Buffer[] = [];
  let length = 0;
  for (const chunk of chunks) {
    if (length >= limit) break;
    const piece = chunk.length <= limit - length ? chunk : chunk.subarray(0, limit - length);
    limited.push(piece);
    length += piece.length;
  }
  return [limited, length];
}

/**
 * A small view can pin a whole socket read buffer; when buffering a body for the handler, copy
 * such views so the memory held stays close to the body limit.
 */
function compact(data: Buffer): Buffer {
  return data.length * 2 < data.buffer.byteLength ? Buffer.from(data) : data;
}
