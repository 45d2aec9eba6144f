import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { roundRate } from './rates.js';

/** Whether `taskset` can pin processes here; without it figures are two-core figures. */
export const canPin = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** Runs a Node script in a child process, pinned to `core` when possible. */
export function startNode(script: string, env: Record<string, string>, core: number): ChildProcess {
  const command = canPin ? 'taskset' : process.execPath;
  const nodeArgs = [...(process.env.AUTHD_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.AUTHD_BENCH_PROFILE}`] : []), script];
  const args = canPin ? ['-c', String(core), process.execPath, ...nodeArgs] : nodeArgs;
  return spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
}

/** Whether something on 127.0.0.1 accepts connections on `port` (another bench's server, even a stopped one). */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls a URL until it answers 2xx, or fails after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** User + system CPU time of a /proc stat file, in microseconds; 0 where there is none. */
function statCpuMicros(path: string): number {
  try {
    const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** User + system CPU time a process has used, in microseconds (Linux /proc; 0 elsewhere). */
export function cpuMicros(pid: number | undefined): number {
  return pid === undefined ? 0 : statCpuMicros(`/proc/${pid}/stat`);
}

/**
 * User + system CPU time of a process's main thread, the one that runs its JavaScript, in
 * microseconds (Linux /proc; 0 elsewhere). The rest is libuv's threadpool (argon2) and V8's threads.
 */
export function mainThreadCpuMicros(pid: number | undefined): number {
  return pid === undefined ? 0 : statCpuMicros(`/proc/${pid}/task/${pid}/stat`);
}

/** How often an idle process's main thread wakes, and what that costs it. */
export interface IdleCost {
  readonly seconds: number;
  readonly wakeUpsPerSecond: number;
  readonly cpuMillisPerSecond: number;
}

/**
 * A process's main thread as the scheduler counts it: nanoseconds run (`schedstat`, exact, where
 * `stat` counts 10 ms ticks) and voluntary context switches (each a sleep, so each wake-up
 * follows one). NaN without /proc.
 */
function mainThreadSchedule(pid: number): { readonly runNanos: number; readonly sleeps: number } {
  try {
    const task = `/proc/${pid}/task/${pid}`;
    const runNanos = Number(readFileSync(`${task}/schedstat`, 'utf8').split(' ')[0]);
    const sleeps = Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync(`${task}/status`, 'utf8'))?.[1] ?? Number.NaN);
    return { runNanos, sleeps };
  } catch {
    return { runNanos: Number.NaN, sleeps: Number.NaN };
  }
}

/**
 * The main thread's wake-ups and CPU time while nobody sends requests, once the start-up work has
 * settled: timers that wake an idle server also take their share of the core from its argon2
 * work under load. V8's memory-reducing GC, some seconds after start, can fall in the window.
 */
export async function idleCost(pid: number | undefined, seconds: number): Promise<IdleCost> {
  if (pid === undefined) return { seconds, wakeUpsPerSecond: Number.NaN, cpuMillisPerSecond: Number.NaN };
  await waitForIdle(pid);
  const before = mainThreadSchedule(pid);
  await sleep(seconds * 1000);
  const after = mainThreadSchedule(pid);
  return {
    seconds,
    wakeUpsPerSecond: roundRate((after.sleeps - before.sleeps) / seconds),
    cpuMillisPerSecond: Math.round((after.runNanos - before.runNanos) / 1e5 / seconds) / 10,
  };
}

/**
 * Resolves true once the process has used under a fifth of a core over 200 ms, false if it has not
 * by `timeoutMs`: for work a run left behind (logins still queued when the load stopped) to end first.
 */
export async function waitForIdle(pid: number | undefined, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let before = cpuMicros(pid);
  while (Date.now() < deadline) {
    await sleep(200);
    const after = cpuMicros(pid);
    if (after - before < 40_000) return true;
    before = after;
  }
  return false;
}

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  // The SIGKILL timer is cleared once the child is gone: left running it kept the bench alive 15 s.
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(killer);
}
