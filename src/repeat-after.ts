/**
 * Runs `work` `firstAfterMs` (by default `ms`) from now and then `ms` after each run has ended, so
 * that a run that outlasts the period (a slow Postgres) is never joined by the next; returns what
 * stops it. The timer does not keep the process alive.
 *
 * Stopping aborts the signal the running run was given (work that goes in steps stops between
 * them) and resolves once that run has ended, so that a shutdown closes its connections under no
 * work still using them.
 */
export function repeatAfter(ms: number, work: (signal: AbortSignal) => Promise<unknown>, { firstAfterMs = ms } = {}): () => Promise<void> {
  const stopping = new AbortController();
  let timer: NodeJS.Timeout;
  let running: Promise<void> | undefined;
  const run = () => {
    // Through a promise, so that work that throws before it returns one ends a run like a rejection.
    running = Promise.resolve(stopping.signal).then(work).then(
      () => undefined,
      () => undefined,
    );
    void running.then(() => {
      running = undefined;
      if (!stopping.signal.aborted) schedule();
    });
  };
  const schedule = (after = ms) => {
    timer = setTimeout(run, after).unref();
  };
  schedule(firstAfterMs);
  return async () => {
    stopping.abort();
    clearTimeout(timer);
    await running;
  };
}
