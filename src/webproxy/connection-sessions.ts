/**
 * Sessions of bumped HTTPS connections (Squid `ssl-bump`).
 *
 * A client that authenticates to the proxy sends `Proxy-Authorization` on the CONNECT only;
 * the requests it then sends inside the (bumped) TLS tunnel carry no proxy headers. With
 * `adaptation_meta X-Privgate-Client-Connection "%>a %>p %ssl::>sni"` Squid names the client's
 * TCP connection on every ICAP request: the CONNECT's session is remembered under that name and
 * used for the bumped requests of the same connection, for the CONNECT's authority only.
 *
 * Why this is sound: every TCP connection that carries bumped requests began with a CONNECT
 * that went through REQMOD, and each CONNECT replaces (or, without a valid session, removes) the
 * entry of its address and port, so a later connection reusing the port never inherits an old
 * session. The entry is only consulted when Squid reports a TLS SNI for the request (a bumped
 * connection); plain proxy requests never use it. The token itself is verified again on every
 * request, so expiry, revocation and policy changes apply as usual.
 */
import { getHttpHeader } from './icap-headers.js';
import type { HttpHeaderField } from './icap-types.js';
import type { Target } from './decision.js';

/** The ICAP meta header naming the client connection: `address port sni` (`-` when absent). */
export const META_CLIENT_CONNECTION_HEADER = 'X-Privgate-Client-Connection';

/** One client TCP connection as Squid reports it. */
export interface ClientConnection {
  /** `address port`. */
  key: string;
  /** Whether the request arrived inside a bumped TLS connection (Squid saw an SNI). */
  bumped: boolean;
}

/** The client connection of an ICAP request, or null when Squid does not send the meta header. */
export function parseClientConnection(icapHeaders: readonly HttpHeaderField[]): ClientConnection | null {
  const value = getHttpHeader(icapHeaders, META_CLIENT_CONNECTION_HEADER);
  if (value === undefined) return null;
  const [address, port, sni] = value.trim().split(/\s+/);
  if (!address || address === '-' || !port || !/^\d{1,5}$/.test(port)) return null;
  return { key: `${address} ${port}`, bumped: sni !== undefined && sni !== '-' && sni !== '' };
}

interface Binding {
  token: string;
  host: string;
  port: number;
  expiresAtMs: number;
}

/** A bounded map from client connection to the session token of its CONNECT. */
export class ConnectionSessions {
  private readonly bindings = new Map<string, Binding>();

  constructor(
    private readonly capacity = 20_000,
    /** Upper bound on how long a binding lives, whatever the token's expiry. */
    private readonly maxAgeMs = 3600_000,
  ) {}

  get size(): number {
    return this.bindings.size;
  }

  /** Remembers the session of an allowed CONNECT (replacing what the address and port had). */
  bind(connection: ClientConnection, token: string, target: Target, tokenExpiresAtMs: number, nowMs: number): void {
    this.bindings.delete(connection.key);
    if (this.bindings.size >= this.capacity) {
      const oldest = this.bindings.keys().next();
      if (!oldest.done) this.bindings.delete(oldest.value);
    }
    this.bindings.set(connection.key, { token, host: target.host, port: target.port, expiresAtMs: Math.min(tokenExpiresAtMs, nowMs + this.maxAgeMs) });
  }

  /** Forgets the connection (a CONNECT without a valid session, or one that was refused). */
  unbind(connection: ClientConnection): void {
    this.bindings.delete(connection.key);
  }

  /** The CONNECT's token for a bumped request to the CONNECT's own authority, else null. */
  lookup(connection: ClientConnection | null, target: Target | null, nowMs: number): string | null {
    if (!connection?.bumped || !target) return null;
    const binding = this.bindings.get(connection.key);
    if (!binding) return null;
    if (binding.expiresAtMs <= nowMs) {
      this.bindings.delete(connection.key);
      return null;
    }
    return binding.host === target.host && binding.port === target.port ? binding.token : null;
  }
}
