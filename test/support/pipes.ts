import { spawnSync } from 'node:child_process';
import { constants, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A FIFO made in `dir`, opened for writing without blocking: opened for reading too, it opens at
 * once with no reader, and when full it answers EAGAIN.
 */
export function nonBlockingFifo(dir: string, name = 'pipe'): { path: string; writer: number } {
  const path = join(dir, name);
  if (spawnSync('mkfifo', [path]).status !== 0) throw new Error(`mkfifo ${path} failed`);
  return { path, writer: openSync(path, constants.O_RDWR | constants.O_NONBLOCK) };
}

/** Fills the pipe with log-shaped lines numbered -1, each ~4 KB (16 fill a 64 KiB pipe), until it answers EAGAIN. */
export function fillPipe(writer: number): void {
  try {
    for (;;) writeSync(writer, `${JSON.stringify({ i: -1, padding: 'p'.repeat(4000) })}\n`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
  }
}
