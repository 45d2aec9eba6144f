import { generateKeyPairSync, verify } from 'node:crypto';
import { batchedSigner, MAX_SIGNATURES_PER_BATCH } from '../../src/tokens/signature-batch.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const verifies = (input: string, signature: Buffer) =>
  verify('sha256', Buffer.from(input), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);

/** A scheduler the test turns by hand: each `turn()` runs what was scheduled before it. */
function manualScheduler() {
  let pending: (() => void)[] = [];
  return {
    schedule: (run: () => void) => void pending.push(run),
    get scheduled() {
      return pending.length;
    },
    turn() {
      const runs = pending;
      pending = [];
      for (const run of runs) run();
    },
  };
}

/** Which of `promises` have settled, after pending promise callbacks ran. */
async function settled<T>(promises: Promise<T>[]): Promise<boolean[]> {
  const states = promises.map(() => false);
  promises.forEach((promise, index) => promise.then(() => (states[index] = true), () => (states[index] = true)));
  await new Promise((resolve) => setImmediate(resolve));
  return states;
}

describe('batchedSigner', () => {
  it('makes every signature asked for in one turn together in the next, each over its own input', async () => {
    const scheduler = manualScheduler();
    const sign = batchedSigner(scheduler.schedule);
    const inputs = ['a.b', 'c.d', 'e.f'];
    const signatures = inputs.map((input) => sign(privateKey, input));
    expect(scheduler.scheduled).toBe(1);
    expect(await settled(signatures)).toEqual([false, false, false]);

    scheduler.turn();
    const made = await Promise.all(signatures);
    expect(made.map((signature) => signature.length)).toEqual([64, 64, 64]);
    expect(made.map((signature, index) => verifies(inputs[index]!, signature))).toEqual([true, true, true]);
    expect(verifies('c.d', made[0]!)).toBe(false);
    expect(scheduler.scheduled).toBe(0);
  });

  it(`makes at most ${MAX_SIGNATURES_PER_BATCH} signatures per turn and leaves the rest to the next`, async () => {
    const scheduler = manualScheduler();
    const sign = batchedSigner(scheduler.schedule);
    const signatures = Array.from({ length: MAX_SIGNATURES_PER_BATCH + 3 }, (_, index) => sign(privateKey, `input.${index}`));

    scheduler.turn();
    const afterFirst = await settled(signatures);
    expect(afterFirst.filter(Boolean)).toHaveLength(MAX_SIGNATURES_PER_BATCH);
    expect(afterFirst.slice(MAX_SIGNATURES_PER_BATCH)).toEqual([false, false, false]);
    expect(scheduler.scheduled).toBe(1);

    const late = sign(privateKey, 'late.one');
    expect(scheduler.scheduled).toBe(1);
    scheduler.turn();
    expect(await settled([...signatures, late])).toEqual(Array(MAX_SIGNATURES_PER_BATCH + 4).fill(true));
    expect(verifies('late.one', await late)).toBe(true);
    expect(verifies(`input.${MAX_SIGNATURES_PER_BATCH + 2}`, await signatures[MAX_SIGNATURES_PER_BATCH + 2]!)).toBe(true);
  });

  it('fails only the request whose signature cannot be made', async () => {
    const scheduler = manualScheduler();
    const sign = batchedSigner(scheduler.schedule);
    const good = sign(privateKey, 'x.y');
    const bad = sign(publicKey, 'x.y');
    const alsoGood = sign(privateKey, 'z.w');
    scheduler.turn();

    await expect(bad).rejects.toThrow();
    expect(verifies('x.y', await good)).toBe(true);
    expect(verifies('z.w', await alsoGood)).toBe(true);
  });

  it('runs on the event loop by default', async () => {
    const sign = batchedSigner();
    const [first, second] = await Promise.all([sign(privateKey, 'p.q'), sign(privateKey, 'r.s')]);
    expect(verifies('p.q', first)).toBe(true);
    expect(verifies('r.s', second)).toBe(true);
  });
});
