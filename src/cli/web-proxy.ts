import type { Command } from 'commander';
import { DEFAULT_METRICS_LISTEN, LOG_LEVELS } from '../webproxy/config.js';

interface WebProxyCommandFlags {
  config: string;
  metricsListen?: string;
  icapListen?: string;
  stateDir?: string;
  logLevel?: string;
}

/** `privgate web-proxy`: the ICAP service Squid calls for every request and response of a web session. */
export function registerWebProxyCommand(program: Command): void {
  program
    .command('web-proxy')
    .description('run the web-proxy ICAP service (REQMOD/RESPMOD for Squid) that enforces web sessions and options')
    .requiredOption('--config <file>', 'web-proxy-config.toml downloaded from the control plane (GET /authorizer/api/v1/icap/conf/…)')
    .option('--metrics-listen <host:port>', `address of /healthz and /metrics (default ${DEFAULT_METRICS_LISTEN})`)
    .option('--icap-listen <host:port>', 'override [icap] listen_address/listen_port of the config file')
    .option('--state-dir <dir>', 'override state_directory of the config file (credentials, key, certificate, last good policy)')
    .option('--log-level <level>', `${LOG_LEVELS.join('|')} (default: [log] level of the config file)`)
    .action(async (flags: WebProxyCommandFlags) => {
      // Loaded on use: the control-plane commands do not need the ICAP daemon.
      const { runWebProxy } = await import('../webproxy/main.js');
      await runWebProxy(flags.config, {
        ...(flags.metricsListen !== undefined ? { metricsListen: flags.metricsListen } : {}),
        ...(flags.icapListen !== undefined ? { icapListen: flags.icapListen } : {}),
        ...(flags.stateDir !== undefined ? { stateDir: flags.stateDir } : {}),
        ...(flags.logLevel !== undefined ? { logLevel: flags.logLevel } : {}),
      });
    });
}
