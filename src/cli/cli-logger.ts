import type { Config } from '../config/config.js';
import { immediateOutput } from '../observability/log-output.js';
import { createLogger, type Logger } from '../observability/logger.js';

/** CLI commands write log and audit lines to stderr, each at once, keeping stdout for their output. */
export const cliLogger = (config: Pick<Config, 'logLevel'>): Logger => createLogger(config.logLevel, immediateOutput(2));
