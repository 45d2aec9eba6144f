import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Fields that must never reach a log line, wherever they appear. The code never logs them
 * on purpose; this catches the accident.
 */
const REDACTED_PATHS = [
  'password',
  'client_secret',
  'secret',
  'token',
  'access_token',
  'refresh_token',
  'authorization',
  '*.password',
  '*.client_secret',
  '*.secret',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.authorization',
  '*.headers.authorization',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'authd' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Anything this long and token-like in an error message is replaced before logging. */
const TOKEN_LIKE = /[A-Za-z0-9+/_=.~-]{24,}/g;

/**
 * An unexpected error in loggable form: type, code, message and stack with anything that
 * looks like a token, hash or secret blanked out (driver messages may quote query values).
 */
export function describeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const code = (error as { code?: unknown }).code;
  return {
    type: error.name,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    message: error.message.replace(TOKEN_LIKE, '[redacted]'),
    stack: error.stack?.replace(TOKEN_LIKE, (match) => (match.includes('/') ? match : '[redacted]')),
  };
}
