import { pino } from 'pino';
import type { Config } from '../config/config.js';
import { createLogger, type Logger } from '../observability/logger.js';

/** CLI commands write log and audit lines to stderr, keeping stdout for their output. */
export const cliLogger = (config: Pick<Config, 'logLevel'>): Logger => createLogger(config.logLevel, pino.destination(2));
