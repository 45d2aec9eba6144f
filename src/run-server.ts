import type { Config } from './config/config.js';
import { describeError, flushLogger } from './observability/logger.js';
import { startServer } from './server.js';

/** How long a shutdown waits for stdout to take the last log lines before it exits anyway. */
const SHUTDOWN_LOG_PATIENCE_MS = 5000;

/** Starts the server in this process and wires SIGHUP (reload keys) and SIGTERM/SIGINT (drain, exit). */
export async function runServer(config: Config): Promise<void> {
  const running = await startServer(config);
  const { logger } = running;
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading keys');
    running.reloadKeys().catch((error: unknown) => logger.error({ err: describeError(error) }, 'key reload failed'));
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining and shutting down');
    running.shutdown().then(
      async () => {
        logger.info('stopped');
        await flushLogger(logger, SHUTDOWN_LOG_PATIENCE_MS);
        process.exit(0);
      },
      async (error: unknown) => {
        logger.error({ err: describeError(error) }, 'shutdown failed');
        await flushLogger(logger, SHUTDOWN_LOG_PATIENCE_MS);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
