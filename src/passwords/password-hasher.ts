import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import pLimit from 'p-limit';
import type { Metrics } from '../observability/metrics.js';
import { createAnswerGroups } from './answer-groups.js';
import { argon2Workers, DEFAULT_THREADPOOL_SIZE } from './argon2-workers.js';

export interface Argon2Cost {
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

/** The argon2 queue is full: the caller answers 503 with Retry-After rather than pile up work. */
export class HasherBusyError extends Error {
  override readonly name = 'HasherBusyError';
  readonly code = 'ERR_HASHER_BUSY';
  /** A suggested `Retry-After`, in seconds. */
  readonly retryAfterSeconds = 1;
}

/** The request the job was for has gone (client disconnected) before the job left the queue. */
export class HashAbandonedError extends Error {
  override readonly name = 'HashAbandonedError';
  readonly code = 'ERR_HASH_ABANDONED';
}

/**
 * argon2 could not run on this host (it ran out of memory or threads): no verdict, which must not
 * count as a wrong password. A login answers it 503 with Retry-After and a warning line.
 */
export class HasherFailedError extends Error {
  override readonly name = 'HasherFailedError';
  readonly code = 'ERR_HASHER_FAILED';
}

/** What the argon2 binding rejects with when the host failed it rather than the hash (argon2's own messages). */
const HOST_FAILURES = new Set(['Memory allocation error', 'Threading failure']);

/** The HasherFailedError for a host failure; undefined for anything else argon2 refuses (an unparsable hash, its parameters). */
const hostFailure = (error: unknown): HasherFailedError | undefined => {
  // Not `instanceof Error`: the binding's errors may come from another realm (a vm context, jest's).
  const message = typeof error === 'object' && error !== null ? (error as { message?: unknown }).message : undefined;
  return typeof message === 'string' && HOST_FAILURES.has(message) ? new HasherFailedError(`argon2 could not run: ${message}`, { cause: error }) : undefined;
};

export interface PasswordVerdict {
  readonly ok: boolean;
  /** The stored hash was made with another type or cost than the configured one (only ever true when `ok`). */
  readonly needsRehash: boolean;
}

export interface PasswordHasher {
  /** An argon2id PHC string at the configured cost. Throws RangeError for an empty or oversized password. */
  hash(password: string): Promise<string>;
  /**
   * A malformed stored hash, an empty or an oversized password is `ok: false`, never a throw;
   * HasherFailedError when argon2 could not run on this host (no verdict). A
   * hash of a lower cost than the configured one, or a malformed one, is checked beside the work
   * of `verifyDummy`, and answered once both end.
   * When `abandoned` has fired by the time the job would start, the job is dropped with
   * HashAbandonedError: no one is waiting for its answer, or it must no longer run.
   */
  verify(hash: string, password: string, abandoned?: AbortSignal): Promise<PasswordVerdict>;
  /** The same work as `verify`, against a hash of no one, for unknown and disabled users. */
  verifyDummy(password: string, abandoned?: AbortSignal): Promise<void>;
  /**
   * Makes the hash of no one now. Made at the first unknown or disabled user's login instead, it
   * doubled that login's argon2 work, and its time told the caller that the user did not exist.
   */
  prepare(): Promise<void>;
}

/**
 * Longer passwords are refused before any work (argon2 would happily hash megabytes). The refusal
 * skips argon2 for known and unknown users alike, so it reveals nothing about who exists.
 */
export const MAX_PASSWORD_BYTES = 1024;

export interface PasswordHasherOptions {
  readonly cost: Argon2Cost;
  /** argon2 jobs running at once; each takes a libuv thread and `memoryCost` KiB. Default: argon2Workers(cores, 4, parallelism). */
  readonly concurrency?: number;
  /** Jobs allowed to wait; one more is refused with HasherBusyError. */
  readonly maxQueue?: number;
  /**
   * While jobs are queued, answers handed back together, up to this many (see answer-groups.ts):
   * an answer waits for at most this many less one later jobs to settle, and once it has waited
   * 100 ms the next job to settle hands it back. Default: 4.
   */
  readonly answersPerGroup?: number;
  /** The gauge is set, not incremented: one hasher per metrics registry. */
  readonly metrics?: Pick<Metrics, 'argon2QueueDepth' | 'argon2Workers' | 'argon2Abandoned'>;
}

/** Whether any user's password could be `password`: 1 to MAX_PASSWORD_BYTES bytes. */
export const isPossiblePassword = (password: string): boolean => password !== '' && Buffer.byteLength(password) <= MAX_PASSWORD_BYTES;

/** How long a finished check's answer may be held for its group; see answer-groups.ts. */
const ANSWER_GROUP_MAX_WAIT_MS = 100;

const NO_MATCH: PasswordVerdict = { ok: false, needsRehash: false };

/**
 * A PHC string up to its fourth `$`: for a hash with a version, its id, version and parameters. (A
 * hash without one, argon2 1.0, takes its salt into the head; such a hash always needs a re-hash
 * and is never kept as current.)
 */
const phcHead = (hash: string): string => hash.split('$', 4).join('$') + '$';

/**
 * Memory × passes ÷ the lanes that run at once: the time an argon2 check takes, near enough
 * (node-argon2 runs a thread a lane, and a host runs as many at once as it has cores).
 */
const timeOf = (memoryCost: number, timeCost: number, parallelism: number): number =>
  (memoryCost * timeCost) / Math.max(Math.min(parallelism, availableParallelism()), 1);

const PARAMETER = { m: /(?:^|,)m=(\d+)(?:,|$)/, t: /(?:^|,)t=(\d+)(?:,|$)/, p: /(?:^|,)p=(\d+)(?:,|$)/ } as const;

/** timeOf a PHC argon2 hash (its parameters in any order); 0 when it names no memory or passes. */
const workOf = (hash: string): number => {
  const parameters = /^\$argon2(?:id|i|d)\$(?:v=\d+\$)?([^$]*)\$/.exec(hash)?.[1] ?? '';
  const parameter = (name: keyof typeof PARAMETER, absent: number) => Number(PARAMETER[name].exec(parameters)?.[1] ?? absent);
  return timeOf(parameter('m', 0), parameter('t', 0), parameter('p', 1));
};

/**
 * argon2id behind one bounded pool: about one job per core, a bounded queue, and a fast refusal
 * when it is full, so a login storm costs 503s instead of memory and latency for everyone.
 */
export function createPasswordHasher({
  cost,
  concurrency = argon2Workers(availableParallelism(), DEFAULT_THREADPOOL_SIZE, cost.parallelism),
  maxQueue = concurrency * 32,
  answersPerGroup = 4,
  metrics,
}: PasswordHasherOptions): PasswordHasher {
  const options = {
    type: argon2.argon2id,
    memoryCost: cost.memoryCost,
    timeCost: cost.timeCost,
    parallelism: cost.parallelism,
  } as const;

  // p-limit 7 starts or queues a job synchronously and exposes activeCount/pendingCount, so the
  // bound is one check before enqueueing; a queue of our own would repeat what it already does.
  const limit = pLimit(concurrency);
  // A job in p-limit's queue always runs the limited function below, which hands its answer over.
  const groups = createAnswerGroups({ size: answersPerGroup, maxWaitMs: ANSWER_GROUP_MAX_WAIT_MS, moreQueued: () => limit.pendingCount > 0 });
  metrics?.argon2Workers.set(concurrency);
  const showDepth = () => metrics?.argon2QueueDepth.set(limit.pendingCount);
  const run = <T>(job: () => Promise<T>, abandoned?: AbortSignal): Promise<T> => {
    if (limit.activeCount >= concurrency && limit.pendingCount >= maxQueue) {
      return Promise.reject(new HasherBusyError('password hashing queue is full'));
    }
    const answer = new Promise<T>((resolve, reject) => {
      // The limited function ends when argon2 does, so that the next job starts then (p-limit frees
      // the place before the promise limit() returns resolves, so before the caller is answered). It
      // never rejects: every outcome is an answer, and every answer must reach the groups, or those
      // held there would wait for it for ever.
      void limit(async (): Promise<() => void> => {
        try {
          showDepth(); // this job has left the queue
          if (abandoned?.aborted) {
            // A client that gave up (a timeout in a login storm) must not keep a worker from the living.
            metrics?.argon2Abandoned.inc();
            throw new HashAbandonedError('the request was abandoned while queued');
          }
          const value = await job();
          return () => resolve(value);
        } catch (error) {
          return () => reject(error);
        }
      }).then((answerCaller) => groups.settled(answerCaller));
    });
    showDepth();
    return answer;
  };

  /** argon2id at the configured cost, in the pool; a host failure as HasherFailedError. */
  const hashInPool = (password: string): Promise<string> =>
    run(() =>
      argon2.hash(password, options).catch((error: unknown) => {
        throw hostFailure(error) ?? error;
      }),
    );

  let dummyHash: Promise<string> | undefined;
  const dummy = (): Promise<string> => {
    // Cached once made; a refusal (busy pool) is not cached, the next unknown user tries again.
    dummyHash ??= hashInPool('authd dummy password').catch((error: unknown) => {
      dummyHash = undefined;
      throw error;
    });
    return dummyHash;
  };

  /**
   * The head (`$argon2id$v=19$m=…,p=…,t=…$`) of a hash found to need no re-hash. It holds everything
   * the answer depends on (type, version, parameters), so a hash with the same head needs none
   * either, and most logins parse their hash once (in argon2.verify) instead of twice: the two
   * parses were 3.7% of a login's main-thread time in `perf`.
   */
  let currentHead: string | undefined;
  /** A hash with the current head is at the current cost: most logins' hash, known without parsing. */
  const hasCurrentHead = (hash: string): boolean => currentHead !== undefined && hash.startsWith(currentHead);
  const currentWork = timeOf(cost.memoryCost, cost.timeCost, cost.parallelism);
  const costsLessThanCurrent = (hash: string): boolean => !hasCurrentHead(hash) && workOf(hash) < currentWork;
  const needsRehash = (hash: string): boolean => {
    if (hasCurrentHead(hash)) return false;
    // needsRehash compares version and cost but not the type, so an argon2i/argon2d hash is checked here.
    const needs = !hash.startsWith('$argon2id$') || argon2.needsRehash(hash, options);
    if (!needs) currentHead = phcHead(hash);
    return needs;
  };

  const matches = (hash: string, password: string, abandoned?: AbortSignal): Promise<boolean> =>
    // argon2.verify rejects a hash it cannot parse, or whose parameters it refuses; that is a wrong
    // password, not a server error. A host out of memory or threads is one: it would otherwise
    // count the right password as a failure, and lock its user out.
    run(
      () =>
        argon2.verify(hash, password).catch((error: unknown) => {
          const failed = hostFailure(error);
          if (failed !== undefined) throw failed;
          return false;
        }),
      abandoned,
    );

  const verifyDummy = async (password: string, abandoned?: AbortSignal): Promise<void> => {
    if (!isPossiblePassword(password)) return;
    await matches(await dummy(), password, abandoned);
  };

  return {
    async hash(password) {
      if (!isPossiblePassword(password)) throw new RangeError(`password must be 1 to ${MAX_PASSWORD_BYTES} bytes`);
      return hashInPool(password);
    },
    async verify(hash, password, abandoned) {
      if (!isPossiblePassword(password)) return NO_MATCH;
      const matching = matches(hash, password, abandoned);
      // A hash made at a lower cost (before the cost was raised), or unreadable, would answer a
      // wrong password sooner than an unknown user is answered, telling that the account exists:
      // the dummy check runs beside it, and the answer waits for both. That check's own failure (a
      // full pool, a client gone) is ignored: the verdict is the stored hash's, and must be counted.
      const alongside = costsLessThanCurrent(hash) ? verifyDummy(password, abandoned).catch(() => undefined) : undefined;
      const ok = await matching;
      await alongside;
      return ok ? { ok, needsRehash: needsRehash(hash) } : NO_MATCH;
    },
    verifyDummy,
    async prepare() {
      await dummy();
    },
  };
}
