/**
 * Hands finished jobs' answers back in groups while more jobs wait behind them.
 *
 * In a login storm on a busy core, each argon2 answer woke the event loop on its own for the rest of
 * its login (the throttle's reset, the refresh-token insert, the signature, the response), and so did
 * each of those steps' replies, between slices of the next job: every wake-up met caches the job had
 * emptied, and a login's own work cost three to four times what it costs at a high rate
 * (BENCHMARKS.md). Logins answered together take those steps together and share the wake-ups.
 *
 * An answer is held only while jobs are queued, that is while argon2 is the bottleneck and a login
 * waits for the jobs ahead of it anyway, and it goes back with the first job to settle once
 * `size` answers are held, once the queue is empty, or once it has waited `maxWaitMs`. At the
 * default argon2 cost a group fills within that time. The time is looked at only as jobs settle, so
 * where they settle more than `maxWaitMs` apart (a costly one on one core) an answer waits for one
 * more at most.
 */
export interface AnswerGroups {
  /** A job has settled; `answer` hands its outcome to its caller, now or with its group. */
  settled(answer: () => void): void;
}

export interface AnswerGroupOptions {
  readonly size: number;
  readonly maxWaitMs: number;
  /**
   * Whether a job is queued that will settle later (run or dropped). An answer is held only then,
   * and that job, when it settles, hands the group back or is held in it in turn, so the last job of
   * a queue always hands back everything.
   */
  readonly moreQueued: () => boolean;
  /** Milliseconds from any fixed point; default performance.now. */
  readonly now?: () => number;
}

export function createAnswerGroups({ size, maxWaitMs, moreQueued, now = () => performance.now() }: AnswerGroupOptions): AnswerGroups {
  const held: Array<() => void> = [];
  let oldestHeldAt = 0;
  return {
    settled(answer) {
      const settledAt = now();
      if (held.length === 0) oldestHeldAt = settledAt;
      held.push(answer);
      if (held.length < size && moreQueued() && settledAt - oldestHeldAt < maxWaitMs) return;
      for (const each of held.splice(0)) each();
    },
  };
}
