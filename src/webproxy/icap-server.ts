/**
 * The ICAP listener of `privgate web-proxy`: accepts Squid's connections, caps how many are
 * open, and closes them gracefully on shutdown.
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { IcapConnection } from './icap-connection.js';
import { DEFAULT_ICAP_LIMITS } from './icap-parser.js';
import { serializeIcapError } from './icap-responses.js';
import type { IcapHandler, IcapLimits, IcapLogger } from './icap-types.js';

/** Settings for {@link createIcapServer}. */
export interface IcapServerOptions {
  /** Address to bind; defaults to `127.0.0.1` since Squid normally runs on the same host. */
  host?: string;
  /** Port to bind; 0 picks a free one (see the result of `listen`). 1344 is the ICAP default. */
  port: number;
  handler: IcapHandler;
  /** Open connections allowed at once; more get ICAP 503 and are closed. Default 100. */
  maxConnections?: number;
  /** Inactivity after which a connection is closed. Default 60 s; 0 disables. */
  idleTimeoutMs?: number;
  limits?: Partial<IcapLimits>;
  logger?: IcapLogger;
  /** ISTag for answers when the handler has no `serviceTag`. Default `privgate`. */
  istag?: string;
  /** How long `close` lets in-flight messages finish before destroying their sockets. Default 5 s. */
  closeTimeoutMs?: number;
}

/** A running (or ready to run) ICAP server. */
export interface IcapServer {
  /** Binds and starts accepting; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }>;
  /**
   * Stops accepting, lets each connection finish the message in progress, then resolves once
   * every socket has closed (forcing those still open after `closeTimeoutMs`).
   */
  close(): Promise<void>;
  /** Connections currently being served. */
  readonly connectionCount: number;
}

const silentLogger: IcapLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Creates an ICAP server; nothing is bound until `listen` is called. */
export function createIcapServer(options: IcapServerOptions): IcapServer {
  const host = options.host ?? '127.0.0.1';
  const maxConnections = options.maxConnections ?? 100;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
  const istag = options.istag ?? 'privgate';
  const logger = options.logger ?? silentLogger;
  const limits: IcapLimits = {
    maxHeaderBytes: options.limits?.maxHeaderBytes ?? DEFAULT_ICAP_LIMITS.maxHeaderBytes,
    maxBodyBytes: options.limits?.maxBodyBytes ?? DEFAULT_ICAP_LIMITS.maxBodyBytes,
  };

  const connections = new Set<IcapConnection>();
  /** Sockets refused with 503 that have not closed yet; `close` must not wait on them forever. */
  const refused = new Set<Socket>();
  let closing = false;

  // Half-open allowed so a client that shuts down its sending side still gets its last answer.
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    if (connections.size >= maxConnections) {
      logger.warn({ remoteAddress: socket.remoteAddress, maxConnections }, 'ICAP connection limit reached');
      refused.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => refused.delete(socket));
      socket.end(serializeIcapError(503, { istag }));
      socket.resume();
      setTimeout(() => socket.destroy(), 2_000).unref();
      return;
    }
    const connection = new IcapConnection(socket, {
      handler: options.handler,
      limits,
      idleTimeoutMs,
      defaultIstag: istag,
      maxConnections,
      logger,
    });
    connections.add(connection);
    void connection.closed.then(() => connections.delete(connection));
    connection.start();
  });
  server.on('error', (error) => logger.error({ err: error }, 'ICAP server error'));

  return {
    get connectionCount() {
      return connections.size;
    },

    listen() {
      return new Promise((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        server.once('error', onError);
        server.listen(options.port, host, () => {
          server.off('error', onError);
          const address = server.address() as AddressInfo;
          logger.info({ host: address.address, port: address.port }, 'ICAP server listening');
          resolve({ host: address.address, port: address.port });
        });
      });
    },

    async close() {
      closing = true;
      const stopped = new Promise<void>((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close(() => resolve());
      });
      for (const connection of connections) connection.shutdown();
      for (const socket of refused) socket.destroy();
      const everyClosed = Promise.all([...connections].map((connection) => connection.closed));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          for (const connection of connections) connection.destroy();
          resolve();
        }, closeTimeoutMs);
        timer.unref();
      });
      await Promise.race([everyClosed, deadline]);
      clearTimeout(timer);
      await Promise.all([...connections].map((connection) => connection.closed));
      await stopped;
    },
  };
}
