import type { Command } from 'commander';
import { runServer } from '../../run-server.js';
import { loadRuntimeConfig } from '../context.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the authorization server in this process (same as npm start)')
    .action(() => runServer(loadRuntimeConfig()));
}
