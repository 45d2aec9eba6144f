import { exitOnError, loadRuntimeConfig } from './cli/context.js';
import { runServer } from './run-server.js';

try {
  await runServer(loadRuntimeConfig());
} catch (error) {
  exitOnError(error);
}
