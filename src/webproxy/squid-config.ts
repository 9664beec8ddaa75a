/**
 * The squid.conf privgate's web proxy is run behind (docs/web-proxy-squid.md explains each line):
 * ICAP on both vectoring points with `bypass=off`, the client address sent to ICAP, and the
 * client's ORIGINAL session headers passed to both services as ICAP meta headers (RESPMOD sees
 * the request only after REQMOD stripped them). The end-to-end tests and the benchmarks both run
 * Squid with this, so what is tested is what is measured.
 */
export interface SquidConfigOptions {
  /** Scratch directory holding run/ (pid file), logs/ and the hosts file. */
  directory: string;
  httpPort: number;
  /** ICAP service URLs; null runs Squid with ICAP off (the benchmarks' ceiling). */
  icap: { reqmod: string; respmod: string } | null;
  /** Write logs/access.log (off where the disk I/O would only skew a measurement). */
  accessLog: boolean;
  /**
   * Bump every CONNECT (squid-openssl): certificates minted on the fly with this CA, origins
   * verified against `originCaFile`.
   */
  sslBump?: { caCertificateFile: string; caKeyFile: string; originCaFile: string } | undefined;
}

export const SQUID_CERTGEN = '/usr/lib/squid/security_file_certgen';

export function squidConfig(options: SquidConfigOptions): string {
  const dir = options.directory;
  const bump = options.sslBump;
  const httpPort = bump
    ? [
        `http_port 127.0.0.1:${options.httpPort} ssl-bump tls-cert=${bump.caCertificateFile} tls-key=${bump.caKeyFile} generate-host-certificates=on dynamic_cert_mem_cache_size=4MB`,
        `sslcrtd_program ${SQUID_CERTGEN} -s ${dir}/ssl_db -M 4MB`,
        'sslcrtd_children 3 startup=1 idle=1',
        'acl step1 at_step SslBump1',
        'ssl_bump peek step1',
        'ssl_bump bump all',
        `tls_outgoing_options cafile=${bump.originCaFile}`,
      ]
    : [`http_port 127.0.0.1:${options.httpPort}`];
  const icap = options.icap
    ? [
        'icap_enable on',
        'icap_send_client_ip on',
        'icap_persistent_connections on',
        'icap_preview_enable on',
        'icap_preview_size 1024',
        // Fail closed without suspending the service: each failed transaction is an error for that
        // request only, and traffic resumes as soon as the web proxy is back.
        'icap_service_failure_limit -1',
        'icap_service_revival_delay 30',
        `icap_service svc_req reqmod_precache ${options.icap.reqmod} bypass=off`,
        `icap_service svc_resp respmod_precache ${options.icap.respmod} bypass=off`,
        'adaptation_access svc_req allow all',
        'adaptation_access svc_resp allow all',
        'adaptation_meta X-Privgate-Session "%>h{X-Privgate-Session}"',
        'adaptation_meta X-Privgate-Proxy-Authorization "%>h{Proxy-Authorization}"',
        // With ssl-bump: names the client connection so bumped requests find their CONNECT's session.
        ...(bump ? ['adaptation_meta X-Privgate-Client-Connection "%>a %>p %ssl::>sni"'] : []),
      ]
    : ['icap_enable off'];
  return [
    ...httpPort,
    `pid_filename ${dir}/run/squid.pid`,
    'cache_effective_user proxy',
    `cache_log ${dir}/logs/cache.log`,
    options.accessLog ? `access_log stdio:${dir}/logs/access.log` : 'access_log none',
    `coredump_dir ${dir}/run`,
    'cache deny all',
    'shutdown_lifetime 1 seconds',
    'pinger_enable off',
    `hosts_file ${dir}/hosts`,
    'dns_nameservers 127.0.0.1',
    'http_access allow localhost',
    'http_access deny all',
    '',
    ...icap,
    '',
  ].join('\n');
}
