/** A task that never runs beside itself (see oneAtATime). */
export interface SerialTask {
  /**
   * Runs the task or, while a run goes, the next run: that starts once the going one has ended
   * (however it ended) and is shared by every call made meanwhile, so a caller always gets a run
   * that began after its call.
   */
  run(): Promise<void>;
  /** Whether a run is going. */
  isRunning(): boolean;
  /** Resolves once no run is going or waiting (at once when none is), however they end. */
  settled(): Promise<void>;
}

const ignore = () => undefined;

export function oneAtATime(task: () => Promise<void>): SerialTask {
  let running: Promise<void> | undefined;
  let waiting: Promise<void> | undefined;
  const run = (): Promise<void> => {
    if (running === undefined) {
      running = task().finally(() => (running = undefined));
      return running;
    }
    waiting ??= running.then(ignore, ignore).then(() => {
      waiting = undefined;
      return run();
    });
    return waiting;
  };
  const settled = async () => {
    for (let going = waiting ?? running; going !== undefined; going = waiting ?? running) await going.then(ignore, ignore);
  };
  return { run, isRunning: () => running !== undefined, settled };
}
