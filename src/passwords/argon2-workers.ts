/** libuv's threadpool size when UV_THREADPOOL_SIZE is unset. */
export const DEFAULT_THREADPOOL_SIZE = 4;

/** argon2 jobs the cores hold at once: a job with `parallelism` lanes keeps that many threads busy. */
const jobsTheCoresHold = (cores: number, parallelism: number): number => Math.max(1, Math.floor(cores / parallelism));

/**
 * argon2 jobs to run at once: as many as the cores hold, but one fewer than libuv's threadpool has
 * threads (at least 2), so that file reads, DNS lookups and log writes do not queue behind
 * password hashes, and no job only queues inside libuv.
 */
export function argon2Workers(cores: number, threadpoolSize: number, parallelism: number): number {
  return Math.max(1, Math.min(jobsTheCoresHold(cores, parallelism), threadpoolSize - 1));
}

/** The threadpool size at which argon2Workers stops being bounded by the threadpool. */
export function threadpoolSizeFor(cores: number, parallelism: number): number {
  return jobsTheCoresHold(cores, parallelism) + 1;
}
