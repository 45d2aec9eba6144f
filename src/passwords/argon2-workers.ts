/** libuv's threadpool size when UV_THREADPOOL_SIZE is unset. */
export const DEFAULT_THREADPOOL_SIZE = 4;

/**
 * argon2 jobs to run at once: one per core, but one fewer than libuv's threadpool has threads, so
 * that file reads, DNS lookups and other crypto never wait behind a queue of password hashes (and
 * jobs beyond the pool's threads would only queue inside libuv).
 */
export function argon2Workers(cores: number, threadpoolSize: number): number {
  return Math.max(1, Math.min(cores, threadpoolSize - 1));
}
