import type { Config } from '../config/config.js';
import { batchedOutput } from '../observability/log-output.js';
import { createLogger, type Logger } from '../observability/logger.js';

/**
 * CLI commands write log and audit lines to stderr, keeping stdout for their output; the lines
 * still buffered at exit are written then, and a stderr that refuses them does not hold the exit.
 */
export const cliLogger = (config: Pick<Config, 'logLevel'>): Logger => createLogger(config.logLevel, batchedOutput({ fd: 2 }).stream);
