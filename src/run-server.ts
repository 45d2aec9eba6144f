import type { Config } from './config/config.js';
import { describeError, flushLogger } from './observability/logger.js';
import { startServer } from './server.js';

/** How long a shutdown waits for stdout to take the last log lines before it exits anyway. */
const SHUTDOWN_LOG_PATIENCE_MS = 5000;

/** Starts the server in this process and wires SIGHUP (reload keys) and SIGTERM/SIGINT (drain, exit). */
export async function runServer(config: Config): Promise<void> {
  // Node's default for SIGHUP ends the process: one sent while authd starts is taken, and the keys
  // are read again once it has started (start-up may have read them before the change it announces).
  let reloadOnceStarted = false;
  const hangUpWhileStarting = () => (reloadOnceStarted = true);
  process.on('SIGHUP', hangUpWhileStarting);
  const running = await startServer(config);
  const { logger } = running;
  const reloadKeys = () => {
    logger.info('SIGHUP: reloading keys');
    running.reloadKeys().catch((error: unknown) => logger.error({ err: describeError(error) }, 'key reload failed'));
  };
  process.off('SIGHUP', hangUpWhileStarting);
  process.on('SIGHUP', reloadKeys);
  if (reloadOnceStarted) reloadKeys();
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
