import { Command } from 'commander';
import { exitOnError } from './context.js';
import { registerClientCommands } from './commands/client.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSessionsCommands } from './commands/sessions.js';
import { registerUserCommands } from './commands/user.js';

const program = new Command('authd')
  .description('authd: OAuth 2 authorization server (token issuer)')
  .showHelpAfterError('(run `authd help <command>` for usage)')
  .exitOverride((error) => process.exit(error.exitCode));

registerServeCommand(program);
registerMigrateCommand(program);
registerUserCommands(program);
registerClientCommands(program);
registerKeysCommands(program);
registerSessionsCommands(program);

program.parseAsync(process.argv).catch(exitOnError);
