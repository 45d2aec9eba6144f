import { pino, type DestinationStream, type Logger } from 'pino';
import { batchedOutput } from './log-output.js';

export type { Logger };

/**
 * Fields that must never reach a log line. The code never logs them on purpose; this catches the
 * accident at the top level and under `req`/`headers`. No wildcard paths: pino's wildcard
 * redaction cost ~60–90 µs per line, more than the rest of a JWKS request.
 */
const REDACTED_PATHS = [
  'password',
  'client_secret',
  'secret',
  'token',
  'access_token',
  'refresh_token',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
];

/**
 * pino's `isoTime`, formatted once per millisecond: V8 formats a date through snprintf, ~10% of
 * a request's log line, and under load many lines share a millisecond.
 */
function isoTimeOncePerMillisecond(): () => string {
  let formattedAt = Number.NaN;
  let formatted = '';
  return () => {
    const now = Date.now();
    if (now !== formattedAt) {
      formattedAt = now;
      formatted = `,"time":"${new Date(now).toISOString()}"`;
    }
    return formatted;
  };
}

export function createLogger(level: string, destination: DestinationStream = batchedOutput().stream): Logger {
  const options = {
    level,
    base: { service: 'authd' },
    timestamp: isoTimeOncePerMillisecond(),
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return pino(options, destination);
}

/**
 * Resolves once every line logged before the call has been handed to the OS, the output has
 * refused a write (the lines stay buffered; at exit they are tried once more), or `patienceMs`
 * has passed: a stdout that takes nothing must not hold a shutdown for ever.
 */
export async function flushLogger(logger: Logger, patienceMs = Number.POSITIVE_INFINITY): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = Number.isFinite(patienceMs) ? setTimeout(resolve, patienceMs) : undefined;
    logger.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Anything this long and token-like in an error message is replaced before logging. */
const TOKEN_LIKE = /[A-Za-z0-9+/_=.~-]{24,}/g;

const redact = (text: string): string => text.replace(TOKEN_LIKE, '[redacted]');

/**
 * An error's stack with its message redacted as `describeError` redacts it (the stack's first
 * lines repeat the message: a driver's error may quote a hash, whose base64 holds `/`), and its
 * frames' long runs blanked unless they are paths.
 */
export function redactedStack(error: Error): string | undefined {
  const { stack } = error;
  if (stack === undefined) return undefined;
  // The frames start after the message, which may hold line breaks of its own.
  const messageAt = stack.indexOf(error.message);
  const framesAt = messageAt === -1 ? -1 : stack.indexOf('\n', messageAt + error.message.length);
  if (framesAt === -1) return redact(stack);
  return redact(stack.slice(0, framesAt)) + stack.slice(framesAt).replace(TOKEN_LIKE, (match) => (match.includes('/') ? match : '[redacted]'));
}

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
    message: redact(error.message),
    stack: redactedStack(error),
  };
}
