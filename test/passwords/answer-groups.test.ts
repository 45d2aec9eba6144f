import { createAnswerGroups } from '../../src/passwords/answer-groups.js';

describe('answer groups', () => {
  /**
   * Settles jobs 0..n-1 in order, job i settling at `at(i)` ms with `queuedAfter(i)` jobs still
   * queued; returns the answers handed back as each settles.
   */
  const run = ({ size = 4, maxWaitMs = 100, n, queuedAfter, at = () => 0 }: { size?: number; maxWaitMs?: number; n: number; queuedAfter: (i: number) => number; at?: (i: number) => number }) => {
    const answered: number[] = [];
    let current = 0;
    const groups = createAnswerGroups({ size, maxWaitMs, moreQueued: () => queuedAfter(current) > 0, now: () => at(current) });
    const handedBack: number[][] = [];
    for (current = 0; current < n; current += 1) {
      const before = answered.length;
      const job = current;
      groups.settled(() => answered.push(job));
      handedBack.push(answered.slice(before));
    }
    return handedBack;
  };

  it('hands an answer back at once when no job is queued', () => {
    expect(run({ n: 3, queuedAfter: () => 0 })).toEqual([[0], [1], [2]]);
  });

  it('holds answers while jobs are queued, handing them back in groups of `size`, in order', () => {
    expect(run({ n: 9, queuedAfter: (i) => 8 - i })).toEqual([[], [], [], [0, 1, 2, 3], [], [], [], [4, 5, 6, 7], [8]]);
  });

  it('hands back a part-filled group with the job that settles with nothing queued', () => {
    expect(run({ n: 6, queuedAfter: (i) => 5 - i })).toEqual([[], [], [], [0, 1, 2, 3], [], [4, 5]]);
  });

  it('hands back a group with the first job to settle once its oldest answer has waited maxWaitMs', () => {
    // Jobs of 30 ms, groups of up to 8: held at 90 ms, handed back at 120.
    expect(run({ size: 8, n: 6, queuedAfter: () => 5, at: (i) => 30 * i })).toEqual([[], [], [], [], [0, 1, 2, 3, 4], []]);
    // At exactly maxWaitMs, handed back.
    expect(run({ n: 6, maxWaitMs: 60, queuedAfter: () => 5, at: (i) => 30 * i })).toEqual([[], [], [0, 1, 2], [], [], [3, 4, 5]]);
    // Jobs of a second (a costly argon2): an answer waits for one more job at most.
    expect(run({ n: 4, queuedAfter: () => 5, at: (i) => 1000 * i })).toEqual([[], [0, 1], [], [2, 3]]);
  });

  it('with a size of 1, holds nothing', () => {
    expect(run({ size: 1, n: 3, queuedAfter: () => 5 })).toEqual([[0], [1], [2]]);
  });
});
