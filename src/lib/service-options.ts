/**
 * Service options: per-protocol switches of a PrivX installation (the host-store's default
 * service options) and their per-host-account overrides. One resolver decides the effective
 * options; the host-store API, the authorizer's policy feed and the web proxy all use it.
 */

export interface SshOptions {
  shell: boolean;
  file_transfer: boolean;
  exec: boolean;
  tunnels: boolean;
  x11: boolean;
  other: boolean;
}
export interface RdpOptions {
  file_transfer: boolean;
  audio: boolean;
  clipboard: boolean;
}
export interface WebOptions {
  file_transfer: boolean;
  audio: boolean;
  clipboard: boolean;
}
export interface VncOptions {
  file_transfer: boolean;
  clipboard: boolean;
}
export interface DbOptions {
  /** Bytes per connection towards the client; 0 = no limit. */
  max_bytes_download: number;
  /** Bytes per connection towards the server; 0 = no limit. */
  max_bytes_upload: number;
}

/** The complete options object, exactly the shape of `GET /host-store/api/v1/settings/default_service_options`. */
export interface ServiceOptions {
  ssh: SshOptions;
  rdp: RdpOptions;
  web: WebOptions;
  vnc: VncOptions;
  db: DbOptions;
}

export type Protocol = keyof ServiceOptions;
export const PROTOCOLS: readonly Protocol[] = ['ssh', 'rdp', 'web', 'vnc', 'db'];

/** A host account's override: any protocol block may be left out (= inherit the default). */
export type ServiceOptionsOverride = Partial<ServiceOptions>;

/** Where an effective block came from. */
export type OptionsSource = 'principal' | 'default';

export interface EffectiveServiceOptions {
  options: ServiceOptions;
  sources: Record<Protocol, OptionsSource>;
}

/** PrivX's factory defaults: everything allowed, no byte limits. */
export const DEFAULT_SERVICE_OPTIONS: ServiceOptions = Object.freeze({
  ssh: Object.freeze({ shell: true, file_transfer: true, exec: true, tunnels: true, x11: true, other: true }),
  rdp: Object.freeze({ file_transfer: true, audio: true, clipboard: true }),
  web: Object.freeze({ file_transfer: true, audio: true, clipboard: true }),
  vnc: Object.freeze({ file_transfer: true, clipboard: true }),
  db: Object.freeze({ max_bytes_download: 0, max_bytes_upload: 0 }),
}) as ServiceOptions;

/**
 * Effective options for one host account: per protocol block, the account's override when it
 * has that block, else the installation default. Blocks are taken whole — a block present in an
 * override is complete (the API validates that), so no field-level merging is needed or wanted.
 */
export function resolveEffectiveServiceOptions(defaults: ServiceOptions, override: ServiceOptionsOverride | null | undefined): EffectiveServiceOptions {
  const options = {} as Record<Protocol, unknown>;
  const sources = {} as Record<Protocol, OptionsSource>;
  for (const protocol of PROTOCOLS) {
    const block = override?.[protocol];
    options[protocol] = { ...(block ?? defaults[protocol]) };
    sources[protocol] = block ? 'principal' : 'default';
  }
  return { options: options as unknown as ServiceOptions, sources };
}
