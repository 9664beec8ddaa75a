#!/usr/bin/env node
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerApiClientCommand } from './api-client.js';
import { registerMigrateCommand } from './migrate.js';
import { registerServeCommand } from './serve.js';
import { registerTokenCommand } from './token.js';
import { registerWebProxyCommand } from './web-proxy.js';

const program = new Command()
  .name('privgate')
  .description('PrivX-compatible privileged-access control plane and its data-plane daemons')
  .version(VERSION);

registerServeCommand(program);
registerMigrateCommand(program);
registerApiClientCommand(program);
registerTokenCommand(program);
registerWebProxyCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`privgate: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
