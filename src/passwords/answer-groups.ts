/**
 * Hands finished jobs' answers back in groups while more jobs wait behind them.
 *
 * In a login storm on a busy core, each argon2 answer woke the event loop on its own for the rest of
 * its login (the throttle's reset, the refresh-token insert, the signature, the response), and so did
 * each of those steps' replies, between slices of the next job: every wake-up met caches the job had
 * emptied, and a login's own work cost three to four times what it costs at a high rate
 * (BENCHMARKS.md). Logins answered together take those steps together and share the wake-ups.
 *
 * An answer waits for at most `size - 1` later jobs, and only while jobs are queued, that is while
 * argon2 is the bottleneck and a login waits for the jobs ahead of it anyway: a job that settles with
 * none queued hands back every answer held, its own included.
 */
export interface AnswerGroups {
  /** A job has settled; `answer` hands its outcome to its caller, now or with its group. */
  settled(answer: () => void): void;
}

/**
 * `moreQueued` must say whether a job is queued that will settle later (run or dropped). An answer is
 * held only then, and that job, when it settles, hands the group back or is held in it in turn, so
 * the last job of a queue always hands back everything.
 */
export function createAnswerGroups(size: number, moreQueued: () => boolean): AnswerGroups {
  const held: Array<() => void> = [];
  return {
    settled(answer) {
      held.push(answer);
      if (held.length < size && moreQueued()) return;
      for (const each of held.splice(0)) each();
    },
  };
}
