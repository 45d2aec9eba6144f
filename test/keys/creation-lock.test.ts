import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CREATION_LOCK_FILE, createCreationLock, STALE_LOCK_MS } from '../../src/keys/creation-lock.js';

let dir: string;
let now: number;
const clock = () => now;
/** A process of its own: each has its own view of how long it has seen a lock. */
const aProcess = () => createCreationLock(dir, clock);
const lockFile = () => join(dir, CREATION_LOCK_FILE);

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'authd-lock-')), 'keys');
  now = 1_000_000;
});
afterEach(() => rm(join(dir, '..'), { recursive: true, force: true }));

it('is held by one process at a time, and taken by the next once given back', async () => {
  const [first, second] = [aProcess(), aProcess()];
  const release = (await first.tryTake())!;
  expect(release).toBeInstanceOf(Function);
  expect(await second.tryTake()).toBeUndefined();
  await release();
  expect(await readdir(dir)).toEqual([]);
  expect(await second.tryTake()).toBeInstanceOf(Function);
});

it('takes over a lock seen unchanged for STALE_LOCK_MS by its own clock, whatever the file\'s mtime says', async () => {
  await mkdir(dir, { recursive: true });
  await writeFile(lockFile(), 'a process that died');
  // Dated an hour ahead, as another host's clock might have it: the age that counts is the one seen here.
  const ahead = new Date(Date.now() + 3_600_000);
  await utimes(lockFile(), ahead, ahead);
  const waiter = aProcess();
  expect(await waiter.tryTake()).toBeUndefined();
  now += STALE_LOCK_MS - 1;
  expect(await waiter.tryTake()).toBeUndefined();
  expect(await readdir(dir)).toEqual([CREATION_LOCK_FILE]);
  now += 1;
  expect(await waiter.tryTake()).toBeUndefined();
  expect(await readdir(dir)).toEqual([]);
  expect(await waiter.tryTake()).toBeInstanceOf(Function);
});

it('ages a name it cannot read (a dangling link an exclusive create still finds taken) like any lock, then takes it over', async () => {
  await mkdir(dir, { recursive: true });
  await symlink(join(dir, 'nowhere'), lockFile());
  const waiter = aProcess();
  expect(await waiter.tryTake()).toBeUndefined();
  now += STALE_LOCK_MS;
  expect(await waiter.tryTake()).toBeUndefined();
  expect(await readdir(dir)).toEqual([]);
  expect(await waiter.tryTake()).toBeInstanceOf(Function);
});

it('treats an empty lock file (its token not written yet) as a lock, and takes it over once stale', async () => {
  await mkdir(dir, { recursive: true });
  await writeFile(lockFile(), '');
  const waiter = aProcess();
  expect(await waiter.tryTake()).toBeUndefined();
  now += STALE_LOCK_MS;
  expect(await waiter.tryTake()).toBeUndefined();
  expect(await waiter.tryTake()).toBeInstanceOf(Function);
});

it('never takes over a lock that changed hands meanwhile', async () => {
  const [holder, waiter] = [aProcess(), aProcess()];
  await (await holder.tryTake())!();
  const second = (await holder.tryTake())!;
  expect(await waiter.tryTake()).toBeUndefined();
  await second();
  const third = (await holder.tryTake())!;
  now += STALE_LOCK_MS;
  // The lock the waiter has seen for STALE_LOCK_MS is not this one: it starts counting again.
  expect(await waiter.tryTake()).toBeUndefined();
  expect(await readdir(dir)).toEqual([CREATION_LOCK_FILE]);
  await third();
});

it('of processes that find the same lock stale, lets one take it; the others leave the new holder\'s lock alone', async () => {
  await mkdir(dir, { recursive: true });
  await writeFile(lockFile(), 'a process that died');
  const waiters = [aProcess(), aProcess(), aProcess()];
  for (const waiter of waiters) expect(await waiter.tryTake()).toBeUndefined();
  now += STALE_LOCK_MS;
  // One moves the stale lock aside; any of them may take the free name, in this round or the next.
  const taken = [...(await Promise.all(waiters.map((waiter) => waiter.tryTake()))), ...(await Promise.all(waiters.map((waiter) => waiter.tryTake())))];
  expect(taken.filter((release) => release !== undefined)).toHaveLength(1);
  // The others have seen the new lock only now: however they ask, they wait for its holder.
  for (const waiter of waiters) expect(await waiter.tryTake()).toBeUndefined();
  await taken.find((release) => release !== undefined)!();
  expect(await readdir(dir)).toEqual([]);
});

it('giving back a lock another process has taken over since leaves that process\'s lock in place', async () => {
  const [stalled, waiter] = [aProcess(), aProcess()];
  const stalledRelease = (await stalled.tryTake())!;
  expect(await waiter.tryTake()).toBeUndefined();
  now += STALE_LOCK_MS;
  expect(await waiter.tryTake()).toBeUndefined();
  const waiterRelease = (await waiter.tryTake())!;
  const held = await readFile(lockFile(), 'utf8');
  await stalledRelease();
  expect(await readFile(lockFile(), 'utf8')).toBe(held);
  await waiterRelease();
  expect(await readdir(dir)).toEqual([]);
});
