import { constants } from 'node:os';
import type { Config } from './config/config.js';
import { describeError, flushLogger } from './observability/logger.js';
import { startServer, type RunningServer } from './server.js';

/** How long a shutdown waits for stdout to take the last log lines before it exits anyway. */
const SHUTDOWN_LOG_PATIENCE_MS = 5000;

/**
 * Starts the server in this process and wires SIGHUP (reload keys), SIGTERM/SIGINT (drain, exit)
 * and uncaught errors (log, exit 1).
 */
export async function runServer(config: Config): Promise<void> {
  // A signal that arrives while authd starts is taken, and acted on once it has started. Node's
  // defaults would end the process at once, its connections left open and the log lines it still
  // holds lost; and a SIGHUP's keys are read again after start-up, which may have read them before
  // the change it announces.
  let running: RunningServer | undefined;
  let reloadWhenStarted = false;
  let stopWhenStarted: NodeJS.Signals | undefined;
  let stopping = false;

  const reloadKeys = ({ logger, reloadKeys: reload }: RunningServer) => {
    logger.info('SIGHUP: reloading keys');
    reload().catch((error: unknown) => logger.error({ err: describeError(error) }, 'key reload failed'));
  };
  const stop = ({ logger, shutdown }: RunningServer, signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining and shutting down');
    shutdown().then(
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
  const onHangUp = () => {
    if (running === undefined) reloadWhenStarted = true;
    else reloadKeys(running);
  };
  const onStop = (signal: NodeJS.Signals) => {
    if (running !== undefined) stop(running, signal);
    else if (stopWhenStarted === undefined) stopWhenStarted = signal;
    // A second one while it still starts (a start-up that hangs on a stuck KEYS_DIR, say): now.
    else process.exit(128 + constants.signals[signal]);
  };
  process.on('SIGHUP', onHangUp);
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);

  running = await startServer(config);
  const { logger } = running;
  // Logged as every error is (describeError: no token, no driver detail), where Node's default would
  // print the whole error object to stderr; the state such an error leaves is unknown, so authd ends.
  process.on('uncaughtException', (error, origin) => {
    logger.fatal({ err: describeError(error), origin }, 'uncaught error; exiting');
    process.exit(1);
  });
  if (stopWhenStarted !== undefined) stop(running, stopWhenStarted);
  else if (reloadWhenStarted) reloadKeys(running);
}
