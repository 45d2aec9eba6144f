import { Command } from 'commander';
import { exitOnError } from './context.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerServeCommand } from './commands/serve.js';

const program = new Command('authd')
  .description('authd: OAuth 2 authorization server (token issuer)')
  .showHelpAfterError()
  .exitOverride((error) => process.exit(error.exitCode));

registerServeCommand(program);
registerMigrateCommand(program);
registerKeysCommands(program);

program.parseAsync(process.argv).catch(exitOnError);
