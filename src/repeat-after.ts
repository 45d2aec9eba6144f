/**
 * Runs `work` `ms` from now and then `ms` after each run has ended, so that a run that outlasts
 * the period (a slow Postgres) is never joined by the next; returns what stops it. The timer does
 * not keep the process alive.
 */
export function repeatAfter(ms: number, work: () => Promise<unknown>): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout;
  const next = () => {
    if (!stopped) schedule();
  };
  const schedule = () => {
    timer = setTimeout(() => void work().then(next, next), ms).unref();
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
