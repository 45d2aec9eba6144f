import { pino, type DestinationStream, type Logger } from 'pino';

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
 * Log bytes held while the output does not take them (a stalled pipe or log collector): about 8 s
 * of request lines at 20,000 requests a second. Past it, lines are dropped and counted
 * (authd_log_lines_dropped_total) rather than held until the process runs out of memory.
 */
export const MAX_BUFFERED_LOG_BYTES = 32 * 1024 * 1024;

/** A log output, and what it could not write. */
export interface LogOutput {
  readonly stream: DestinationStream;
  /** Lines dropped because the buffer was full. */
  droppedLines(): number;
  /** Writes the output refused (a full disk, say); their lines stay buffered and are tried again. */
  failedWrites(): number;
}

/**
 * An fd (stdout by default) written asynchronously and in batches: lines collect until 4 KiB or
 * 100 ms, whichever comes first, then go out in one write (one write per line cost ~15 µs per
 * request under load, a quarter of a JWKS request). Call `flushLogger` before exiting.
 *
 * A write the output refuses is counted and tried again; authd goes on serving. Left to pino, any
 * refusal but a broken pipe is an uncaught 'error' event that ends the process, and its flush at
 * exit retries the refused write for ever, so the process never ends: at exit, lines that cannot
 * be written are given up instead.
 */
export function batchedOutput({ fd = 1, maxBufferedBytes = MAX_BUFFERED_LOG_BYTES } = {}): LogOutput {
  const stream = pino.destination({ dest: fd, sync: false, minLength: 4096, periodicFlush: 100, maxLength: maxBufferedBytes });
  let dropped = 0;
  let failed = 0;
  let lastError: unknown;
  let refusing = false;
  stream.on('drop', () => {
    dropped += 1;
  });
  stream.on('error', (error: unknown) => {
    // pino's own listener re-emits the first refusal it does not handle: count it once.
    if (error === lastError) return;
    lastError = error;
    failed += 1;
    refusing = true;
  });
  stream.on('write', () => {
    refusing = false;
  });
  const flushSync = stream.flushSync.bind(stream);
  stream.flushSync = () => {
    if (!refusing) flushSync();
  };
  return { stream, droppedLines: () => dropped, failedWrites: () => failed };
}

export function createLogger(level: string, destination: DestinationStream = batchedOutput().stream): Logger {
  const options = {
    level,
    base: { service: 'authd' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return pino(options, destination);
}

/**
 * Resolves once every line logged before the call has been handed to the OS. sonic-boom calls a
 * flush back when its running write ends, and up to `minLength` bytes may still be waiting then;
 * the second flush writes them (or waits for a write that starts with them, as the periodic
 * flush's does, and they fit in one write).
 */
export async function flushLogger(logger: Logger): Promise<void> {
  for (let pass = 0; pass < 2; pass += 1) await new Promise<void>((resolve) => logger.flush(() => resolve()));
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
