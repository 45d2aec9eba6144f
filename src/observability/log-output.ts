import { write, writeSync } from 'node:fs';
import type { DestinationStream } from 'pino';

/**
 * Log bytes held while the output does not take them (a stalled pipe or log collector): about 8 s
 * of request lines at 20,000 requests a second. Past it, lines are dropped and counted
 * (authd_log_lines_dropped_total) rather than held until the process runs out of memory.
 */
export const MAX_BUFFERED_LOG_BYTES = 32 * 1024 * 1024;

/** Lines collect until this many bytes or BATCH_DELAY_MS, whichever comes first, then go out in one write. */
const BATCH_BYTES = 4096;
const BATCH_DELAY_MS = 100;

/** How long after a refused write (a full disk, say) the next one is tried, unless a flush asks sooner. */
const RETRY_DELAY_MS = 100;

/** How long after a full non-blocking pipe (EAGAIN) the write is tried again: a live reader drains it in moments. */
const FULL_PIPE_DELAY_MS = 10;

/**
 * How long a synchronous flush (at exit) waits on a full non-blocking pipe before it gives the
 * lines up. A blocking pipe (stdout as most processes inherit it) blocks the write itself instead.
 */
const SYNC_FLUSH_PATIENCE_MS = 1000;

/** What the synchronous flush sleeps on between tries of a full pipe. */
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Outputs holding lines not yet written. Each is written synchronously at exit; held only while it
 * has lines, so an output nobody logs to any more is kept until they are written, and no longer.
 */
const holdingLines = new Set<BatchedStream>();
let exitFlushInstalled = false;
const hold = (stream: BatchedStream) => {
  if (!exitFlushInstalled) {
    exitFlushInstalled = true;
    process.once('exit', () => {
      for (const held of holdingLines) held.flushSync();
    });
  }
  holdingLines.add(stream);
};

/** pino's destination: it calls `flush` for `logger.flush` and `flushSync` after a `fatal` line. */
export interface BatchedStream extends DestinationStream {
  write(line: string): boolean;
  /** Calls back once every line taken before the call is written, or with the error of a refused write. */
  flush(callback: (error?: Error) => void): void;
  /** Writes every buffered line now, blocking; gives them up at a refusal other than a full pipe. */
  flushSync(): void;
}

/** A log output, and what it could not write. */
export interface LogOutput {
  readonly stream: BatchedStream;
  /** Lines dropped because the buffer was full, or because the pipe broke. */
  droppedLines(): number;
  /** Write attempts the output refused (a full disk, say): their lines stay buffered and are tried again; a broken pipe counts once. */
  failedWrites(): number;
}

/**
 * An fd (stdout by default) written asynchronously and in batches: one write per line cost ~15 µs
 * per request under load, a quarter of a JWKS request. Lines wait as a list and are joined once
 * per write (sonic-boom, pino's own destination, appends each line to a string and measures that
 * string's bytes again at every line: ~2% of a JWKS request, BENCHMARKS.md).
 *
 * A full pipe is waited for, like a slow disk. A refused write is counted and tried again while
 * authd goes on serving; the lines it held stay first in line. A broken pipe (EPIPE: the reader has
 * gone, and nothing can reopen that pipe) ends the output: its lines, and every later one, are
 * dropped and counted instead of held and retried. At exit the buffered lines are
 * written synchronously, giving up at a refusal, or after SYNC_FLUSH_PATIENCE_MS of a full
 * non-blocking pipe, so that a process whose output fails still ends. A write still running then
 * is left to libuv: its lines may land after those written at exit. Flush (`flushLogger`) before
 * an exit you choose.
 */
export function batchedOutput({ fd = 1, maxBufferedBytes = MAX_BUFFERED_LOG_BYTES } = {}): LogOutput {
  let lines: string[] = [];
  let linesBytes = 0;
  /** Bytes taken from `lines` that wait for a write: left by a refused or partial one, or joined for the next. */
  let chunk: Buffer | undefined;
  /** The bytes of the running asynchronous write. */
  let inFlight: Buffer | undefined;
  let timer: NodeJS.Timeout | undefined;
  /** Bytes ever taken, and ever written: a flush waits for `done` to reach `taken`; the difference is what is held. */
  let taken = 0;
  let done = 0;
  let flushes: { until: number; callback: (error?: Error) => void }[] = [];
  let dropped = 0;
  let failed = 0;
  /** The broken pipe's error: from then on every line is dropped, and a flush is answered with it. */
  let brokenBy: Error | undefined;

  const later = (ms: number) => {
    timer ??= setTimeout(() => {
      timer = undefined;
      writeNext();
    }, ms).unref();
  };

  /** With an error, every flush; without, those whose bytes are all written (none while older bytes wait). */
  const settleFlushes = (error?: Error) => {
    if (flushes.length === 0 || (error === undefined && (inFlight !== undefined || chunk !== undefined))) return;
    const due = error === undefined ? flushes.filter((flush) => flush.until <= done) : flushes;
    if (due.length === 0) return;
    flushes = flushes.filter((flush) => !due.includes(flush));
    for (const flush of due) flush.callback(error);
  };

  /** Lets the exit flush pass over this output once it holds nothing. */
  const releaseIfWritten = () => {
    if (done >= taken) holdingLines.delete(stream);
  };

  const takeLines = (): Buffer => {
    const bytes = Buffer.from(lines.join(''));
    lines = [];
    linesBytes = 0;
    return bytes;
  };

  /** Puts bytes a write left back in front of those waiting (a synchronous flush may have joined them meanwhile). */
  const putBack = (bytes: Buffer) => {
    if (bytes.length > 0) chunk = chunk === undefined ? bytes : Buffer.concat([bytes, chunk]);
  };

  function writeNext(): void {
    if (inFlight !== undefined) return;
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    const bytes = chunk ?? (lines.length > 0 ? takeLines() : undefined);
    if (bytes === undefined) return;
    chunk = undefined;
    inFlight = bytes;
    write(fd, bytes, 0, bytes.length, null, (error, count) => afterWrite(bytes, error, count));
  }

  /** Drops every held line for good (counted) and lets flushes and the exit flush go; counts one failure. */
  const breakOff = (error: Error) => {
    if (brokenBy === undefined) failed += 1;
    brokenBy ??= error;
    dropped += lines.length + (chunk === undefined ? 0 : countLines(chunk));
    lines = [];
    linesBytes = 0;
    chunk = undefined;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    done = taken;
    releaseIfWritten();
    settleFlushes(error);
  };

  function afterWrite(bytes: Buffer, error: NodeJS.ErrnoException | null, count: number): void {
    inFlight = undefined;
    if (brokenBy !== undefined) {
      // A write that ended after the pipe broke: what it did not write is dropped like the rest.
      dropped += countLines(error === null ? bytes.subarray(count) : bytes);
      return;
    }
    if (error?.code === 'EPIPE') {
      putBack(bytes);
      breakOff(error);
      return;
    }
    if (error !== null) {
      putBack(bytes);
      const fullPipe = error.code === 'EAGAIN' || error.code === 'EBUSY';
      if (!fullPipe) {
        failed += 1;
        settleFlushes(error);
      }
      later(fullPipe ? FULL_PIPE_DELAY_MS : RETRY_DELAY_MS);
      return;
    }
    done += count;
    putBack(bytes.subarray(count));
    releaseIfWritten();
    settleFlushes();
    if (chunk !== undefined || linesBytes >= BATCH_BYTES || flushes.length > 0) writeNext();
    else if (lines.length > 0) later(BATCH_DELAY_MS);
  }

  const stream: BatchedStream = {
    write(line) {
      const bytes = Buffer.byteLength(line);
      if (brokenBy !== undefined || taken - done + bytes > maxBufferedBytes) {
        dropped += 1;
        return true;
      }
      if (taken === done) hold(stream);
      lines.push(line);
      linesBytes += bytes;
      taken += bytes;
      // A running write, or a retry on its timer, goes on to these lines when it ends.
      if (inFlight !== undefined || (chunk !== undefined && timer !== undefined)) return true;
      if (linesBytes >= BATCH_BYTES) writeNext();
      else later(BATCH_DELAY_MS);
      return true;
    },
    flush(callback) {
      if (brokenBy !== undefined || done >= taken) {
        process.nextTick(callback, brokenBy);
        return;
      }
      flushes.push({ until: taken, callback });
      writeNext();
    },
    flushSync() {
      // A running asynchronous write is left to finish: the lines written here may land before its
      // (or, on a pipe that takes that write in part, inside one of its lines).
      const pending = lines.length > 0 ? Buffer.concat([chunk ?? Buffer.alloc(0), takeLines()]) : chunk;
      if (pending === undefined) return;
      const { rest, refusal } = writeAllOrGiveUp(fd, pending);
      chunk = rest;
      done += pending.length - (rest?.length ?? 0);
      if (refusal?.code === 'EPIPE') {
        breakOff(refusal);
        return;
      }
      releaseIfWritten();
      if (refusal !== undefined) failed += 1;
      if (rest !== undefined) {
        later(RETRY_DELAY_MS);
      } else {
        // Called back after pino's fatal call returns, not from inside it.
        process.nextTick(settleFlushes);
      }
    },
  };
  return { stream, droppedLines: () => dropped, failedWrites: () => failed };
}

/**
 * Each line written at once, synchronously, for the CLI: its lines land in order with what else it
 * writes to stderr (a message, a prompt), and a refused line is given up (after
 * SYNC_FLUSH_PATIENCE_MS of a full non-blocking pipe) rather than hold the command.
 */
export function immediateOutput(fd: number): DestinationStream {
  return {
    write(line: string) {
      writeAllOrGiveUp(fd, Buffer.from(line));
    },
  };
}

/** The lines in `bytes` (each ends with a newline; a line cut short by a partial write counts as one). */
const countLines = (bytes: Buffer): number => {
  let count = 0;
  for (let at = bytes.indexOf(10); at !== -1; at = bytes.indexOf(10, at + 1)) count += 1;
  return count;
};

/** Writes `bytes` synchronously: what it gave up on (none when all of it is written), and the fd's refusal if it refused. */
function writeAllOrGiveUp(fd: number, bytes: Buffer): { rest?: Buffer; refusal?: NodeJS.ErrnoException } {
  const deadline = Date.now() + SYNC_FLUSH_PATIENCE_MS;
  let rest = bytes;
  while (rest.length > 0) {
    try {
      rest = rest.subarray(writeSync(fd, rest));
    } catch (error) {
      const refusal = error as NodeJS.ErrnoException;
      if (refusal.code !== 'EAGAIN' && refusal.code !== 'EBUSY') return { rest, refusal };
      if (Date.now() >= deadline) return { rest };
      Atomics.wait(pause, 0, 0, 10);
    }
  }
  return {};
}
