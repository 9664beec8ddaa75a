/** The web proxy's own HTTP endpoint: `/healthz` (503 while no policy is enforced) and `/metrics`. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../lib/time.js';
import type { ControlPlaneStatus } from './control-plane-status.js';
import type { WebProxyMetrics } from './metrics.js';
import type { PolicyStore } from './policy-store.js';
import type { RegistrationState } from './registration.js';

export interface StatusServerOptions {
  host: string;
  port: number;
  store: PolicyStore;
  metrics: WebProxyMetrics;
  controlPlane: ControlPlaneStatus;
  registration: () => RegistrationState;
  auditQueueLength: () => number;
  clock?: Clock;
}

export class StatusServer {
  readonly #options: StatusServerOptions;
  readonly #clock: Clock;
  readonly #server: http.Server;

  constructor(options: StatusServerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#server = http.createServer((request, response) => this.#answer(request, response));
  }

  /** Binds; resolves with the bound address, rejects when the address cannot be bound. */
  listen(): Promise<{ host: string; port: number }> {
    const server = this.#server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off('error', reject);
        const address = server.address() as AddressInfo;
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  /** Stops listening and drops open connections at once; settles when the server has closed. */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    return closed;
  }

  #answer(request: http.IncomingMessage, response: http.ServerResponse): void {
    const { store, metrics, controlPlane, registration, auditQueueLength } = this.#options;
    const path = (request.url ?? '/').split('?', 1)[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' }).end('{"error":"method not allowed"}\n');
      return;
    }
    if (path === '/healthz') {
      const now = this.#clock.now();
      const policy = store.status(now);
      const body = {
        status: policy.loaded ? 'ok' : 'no_policy',
        policy_version: policy.version,
        policy_generated: policy.generated,
        policy_age_seconds: policy.ageSeconds,
        policy_source: policy.source,
        registration: registration(),
        control_plane: {
          last_success: controlPlane.lastSuccess?.toISOString() ?? null,
          last_error: controlPlane.lastError,
        },
        audit_queue_length: auditQueueLength(),
      };
      response.writeHead(policy.loaded ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(body)}\n`);
      return;
    }
    if (path === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' }).end(metrics.render());
      return;
    }
    response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}\n');
  }
}
