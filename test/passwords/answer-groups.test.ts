import { createAnswerGroups } from '../../src/passwords/answer-groups.js';

describe('answer groups', () => {
  /** Settles jobs 0..n-1 in order, with `queuedAfter(i)` jobs still queued as job i settles; returns the answers handed back after each. */
  const run = (size: number, queuedAfter: (i: number) => number, n: number) => {
    const answered: number[] = [];
    let current = 0;
    const groups = createAnswerGroups(size, () => queuedAfter(current) > 0);
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
    expect(run(4, () => 0, 3)).toEqual([[0], [1], [2]]);
  });

  it('holds answers while jobs are queued, handing them back in groups of `size`, in order', () => {
    expect(run(4, (i) => 8 - i, 9)).toEqual([[], [], [], [0, 1, 2, 3], [], [], [], [4, 5, 6, 7], [8]]);
  });

  it('hands back a part-filled group with the job that settles with nothing queued', () => {
    expect(run(4, (i) => 5 - i, 6)).toEqual([[], [], [], [0, 1, 2, 3], [], [4, 5]]);
  });

  it('with a size of 1, holds nothing', () => {
    expect(run(1, () => 5, 3)).toEqual([[0], [1], [2]]);
  });
});
