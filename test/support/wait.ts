import { setTimeout as sleep } from 'node:timers/promises';

/** Asks `done` every `everyMs` until it answers true or `withinMs` have passed; the caller then asserts what it waited for. */
export async function waitUntil(done: () => boolean | Promise<boolean>, withinMs: number, everyMs = 10): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await done()) && Date.now() < deadline) await sleep(everyMs);
}
