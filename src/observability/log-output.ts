import { writeSync } from 'node:fs';
import { pino, type DestinationStream } from 'pino';

/**
 * Log bytes held while the output does not take them (a stalled pipe or log collector): about 8 s
 * of request lines at 20,000 requests a second. Past it, lines are dropped and counted
 * (authd_log_lines_dropped_total) rather than held until the process runs out of memory.
 */
export const MAX_BUFFERED_LOG_BYTES = 32 * 1024 * 1024;

/**
 * How long a synchronous flush (at exit) waits on a full non-blocking pipe before it gives the
 * lines up. A blocking pipe (stdout as most processes inherit it) blocks the write itself instead.
 */
const SYNC_FLUSH_PATIENCE_MS = 1000;

/** What the synchronous flush sleeps on between tries of a full pipe. */
const pause = new Int32Array(new SharedArrayBuffer(4));

/** A log output, and what it could not write. */
export interface LogOutput {
  readonly stream: DestinationStream;
  /** Lines dropped because the buffer was full. */
  droppedLines(): number;
  /** Write attempts the output refused (a full disk, say); their lines stay buffered and are tried again. */
  failedWrites(): number;
}

/**
 * An fd (stdout by default) written asynchronously and in batches: lines collect until 4 KiB or
 * 100 ms, whichever comes first, then go out in one write (one write per line cost ~15 µs per
 * request under load, a quarter of a JWKS request). Call `flushLogger` before exiting.
 *
 * A write the output refuses is counted and tried again while authd goes on serving; left to
 * pino, any refusal but a broken pipe is an uncaught 'error' event that ends the process. The
 * synchronous flush that pino runs at exit gives up lines that a full disk or a full
 * non-blocking pipe refuses, rather than retry them for ever.
 */
export function batchedOutput({ fd = 1, maxBufferedBytes = MAX_BUFFERED_LOG_BYTES } = {}): LogOutput {
  const stream = pino.destination({ dest: fd, sync: false, minLength: 4096, periodicFlush: 100, maxLength: maxBufferedBytes });
  let dropped = 0;
  let failed = 0;
  let lastError: unknown;
  stream.on('drop', () => {
    dropped += 1;
  });
  stream.on('error', (error: unknown) => {
    // pino's own listener re-emits the first refusal it does not handle: count it once.
    if (error === lastError) return;
    lastError = error;
    failed += 1;
  });
  const pending = stream as unknown as PendingLines;
  // Only over the sonic-boom whose state it knows (the tests pin it); any other keeps its own.
  if (Array.isArray(pending._bufs)) stream.flushSync = () => flushSyncOrGiveUp(pending);
  return { stream, droppedLines: () => dropped, failedWrites: () => failed };
}

/** The parts of sonic-boom 4's state that a synchronous flush reads and updates (not its public API: the tests pin it). */
interface PendingLines {
  readonly fd: number;
  readonly _writing: boolean;
  _writingBuf: string | Buffer;
  _bufs: (string | Buffer)[];
  _len: number;
}

/**
 * sonic-boom's flushSync, which pino calls at exit (and after `fatal`), but one that ends: at the
 * first refusal other than a full pipe (EAGAIN), or after SYNC_FLUSH_PATIENCE_MS of a full
 * non-blocking pipe, it leaves the rest unwritten. sonic-boom's own retries any refusal but EAGAIN
 * for ever (a full disk), and EAGAIN for ever too unless told otherwise, so a process that had
 * logged to such an output never exited. Like sonic-boom's, it leaves a running asynchronous
 * write to finish by itself, and the lines it writes may land before that write's.
 */
function flushSyncOrGiveUp(pending: PendingLines): void {
  if (!pending._writing && pending._writingBuf.length > 0) {
    pending._bufs.unshift(pending._writingBuf);
    pending._writingBuf = '';
  }
  const deadline = Date.now() + SYNC_FLUSH_PATIENCE_MS;
  while (pending._bufs.length > 0) {
    const head = pending._bufs[0]!;
    const bytes = typeof head === 'string' ? Buffer.from(head) : head;
    try {
      const written = writeSync(pending.fd, bytes);
      pending._len = Math.max(pending._len - written, 0);
      if (written < bytes.length) pending._bufs[0] = bytes.subarray(written);
      else pending._bufs.shift();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'EAGAIN' && code !== 'EBUSY') || Date.now() >= deadline) {
        // sonic-boom appends the next line to the last buffered piece as text: start a new one
        // rather than append to the bytes of a partly written line.
        if (typeof pending._bufs.at(-1) !== 'string') pending._bufs.push('');
        return;
      }
      Atomics.wait(pause, 0, 0, 10);
    }
  }
}
