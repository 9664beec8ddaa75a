/**
 * A throw-away Squid (Debian's squid / squid-openssl) wired to privgate's ICAP services, for the
 * web-proxy end-to-end tests. Runs in the foreground (`squid -N`: one process, no kids), with
 * its pid file, logs and hosts file in a temporary directory owned by `proxy`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SQUID_CERTGEN, squidConfig as squidConfigFor } from '../../src/webproxy/squid-config.js';

export interface SquidOptions {
  /** Instance name (`squid -n`, letters and digits only), unique per running Squid. */
  name: string;
  /** Scratch directory for squid.conf, logs, pid file and hosts file. */
  directory: string;
  httpPort: number;
  icapPort: number;
  reqmodService: string;
  respmodService: string;
  /** Host names resolved to 127.0.0.1 through Squid's `hosts_file`. */
  localNames?: readonly string[];
  /**
   * Bump every CONNECT (squid-openssl): certificates minted on the fly with this CA, origins
   * verified against `originCaFile`.
   */
  sslBump?: { caCertificateFile: string; caKeyFile: string; originCaFile: string };
}

/** The tests' squid.conf: privgate's own (with an access log to read in failure messages). */
export function squidConfig(options: SquidOptions): string {
  return squidConfigFor({
    directory: options.directory,
    httpPort: options.httpPort,
    icap: { reqmod: `icap://127.0.0.1:${options.icapPort}/${options.reqmodService}`, respmod: `icap://127.0.0.1:${options.icapPort}/${options.respmodService}` },
    accessLog: true,
    sslBump: options.sslBump,
  });
}

export interface RunningSquid {
  readonly configFile: string;
  readonly config: string;
  readonly pid: number;
  /** cache.log so far, for failure messages. */
  cacheLog(): string;
  stop(): Promise<void>;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Writes the config, checks it with `squid -k parse`, starts Squid and waits for its port. */
export async function startSquid(options: SquidOptions): Promise<RunningSquid> {
  const dir = options.directory;
  for (const sub of ['run', 'logs']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  // Squid reads its config and hosts file as `proxy` too (parent directories need o+x).
  fs.chmodSync(dir, 0o755);
  const names = ['localhost', ...(options.localNames ?? [])];
  fs.writeFileSync(path.join(dir, 'hosts'), `127.0.0.1 ${names.join(' ')}\n`, { mode: 0o644 });
  const config = squidConfig(options);
  const configFile = path.join(dir, 'squid.conf');
  fs.writeFileSync(configFile, config);
  if (options.sslBump) {
    const init = spawnSync(SQUID_CERTGEN, ['-c', '-s', path.join(dir, 'ssl_db'), '-M', '4MB'], { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`security_file_certgen -c failed: ${init.stderr}`);
  }
  // Squid starts as root and drops to `proxy`, which must be able to write its logs and pid file
  // (and, with ssl-bump, the certificate database its helpers keep).
  spawnSync('chown', ['-R', 'proxy:proxy', ...['run', 'logs', ...(options.sslBump ? ['ssl_db'] : [])].map((sub) => path.join(dir, sub))]);
  const parse = spawnSync('squid', ['-k', 'parse', '-f', configFile, '-n', options.name], { encoding: 'utf8' });
  if (parse.status !== 0) throw new Error(`squid -k parse failed:\n${parse.stderr}${parse.stdout}`);

  const child: ChildProcess = spawn('squid', ['-N', '-f', configFile, '-n', options.name], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cacheLog = () => {
    try {
      return fs.readFileSync(path.join(dir, 'logs', 'cache.log'), 'utf8');
    } catch {
      return output;
    }
  };
  const deadline = Date.now() + 15_000;
  while (!(await accepts(options.httpPort))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`squid exited at start:\n${output}\n${cacheLog()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`squid did not open port ${options.httpPort}:\n${cacheLog()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    configFile,
    config,
    pid: child.pid!,
    cacheLog,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      // shutdown_lifetime is 1 s; past that, force it.
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
