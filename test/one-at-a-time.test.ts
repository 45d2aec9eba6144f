import { oneAtATime } from '../src/one-at-a-time.js';

/** A task whose runs end when the test says, each with its own outcome. */
function controlledTask() {
  const runs: { end: (error?: Error) => void }[] = [];
  const task = () =>
    new Promise<void>((resolve, reject) => runs.push({ end: (error) => (error === undefined ? resolve() : reject(error)) }));
  return { runs, task };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('oneAtATime', () => {
  it('never runs the task beside itself: the calls made during a run share the next one', async () => {
    const { runs, task } = controlledTask();
    const serial = oneAtATime(task);
    const first = serial.run();
    const meanwhile = [serial.run(), serial.run(), serial.run()];
    expect(new Set(meanwhile).size).toBe(1);
    expect([runs.length, serial.isRunning()]).toEqual([1, true]);
    runs[0]!.end();
    await first;
    await settled();
    expect(runs).toHaveLength(2);
    runs[1]!.end();
    await Promise.all(meanwhile);
    expect([runs.length, serial.isRunning()]).toEqual([2, false]);
  });

  it('runs the next one after a run that failed, and gives each caller its own run\'s outcome', async () => {
    const { runs, task } = controlledTask();
    const serial = oneAtATime(task);
    const first = serial.run();
    const second = serial.run();
    runs[0]!.end(new Error('Postgres went away'));
    await expect(first).rejects.toThrow('Postgres went away');
    await settled();
    runs[1]!.end();
    await expect(second).resolves.toBeUndefined();
  });

  it('is settled once the going run and the one waiting have ended, however they ended', async () => {
    const { runs, task } = controlledTask();
    const serial = oneAtATime(task);
    await serial.settled();
    const first = serial.run().catch(() => undefined);
    const second = serial.run();
    let done = false;
    const quiet = serial.settled().then(() => (done = true));
    runs[0]!.end(new Error('Postgres went away'));
    await first;
    await settled();
    expect([runs.length, done]).toEqual([2, false]);
    runs[1]!.end();
    await Promise.all([second, quiet]);
    expect(done).toBe(true);
  });
});
