import autocannon from 'autocannon';
import { cpuMicros, mainThreadCpuMicros, waitForIdle } from './processes.js';
import { roundRate } from './rates.js';

/** One autocannon request template; `setupRequest`/`onResponse` get a per-connection context. */
export type RequestTemplate = NonNullable<autocannon.Options['requests']>[number];

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Unmeasured load first, so JIT warm-up and cold caches do not count against the first rows. */
  readonly warmUpSeconds: number;
  /**
   * The warm-up goes on until the server has answered this many requests: the JIT settles by
   * requests, not by seconds, and a slow row (password) answers only a few dozen a second.
   */
  readonly warmUpRequests: number;
  readonly requests: RequestTemplate[];
  /** The server process, for CPU time per request. */
  readonly serverPid: number | undefined;
}

export interface LoadResult {
  readonly requestsPerSecond: number;
  /** How long the row was measured (the warm-up aside). */
  readonly seconds: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuMicrosPerRequest: number;
  /**
   * The part of it on the server's main thread. The rest is libuv's threadpool (argon2; WebCrypto
   * for a peer signing through jose) and V8's threads, so compare servers by the whole figure.
   */
  readonly mainThreadCpuMicrosPerRequest: number;
  readonly total: number;
  readonly non2xx: number;
  /** 4xx and 5xx answers: a fast refusal would count as a served request. */
  readonly failed: number;
  readonly errors: number;
}

/** A measured window, with the server's CPU time in it (windows add up by it). */
type WindowResult = LoadResult & { readonly cpuMicros: number; readonly mainThreadCpuMicros: number };

/** Unmeasured load until the warm-up's time and request count have both passed. */
async function warmUp(options: LoadOptions): Promise<void> {
  const first = await autocannon({ url: options.url, connections: options.connections, duration: options.warmUpSeconds, requests: options.requests });
  const more = options.warmUpRequests - first.requests.total;
  // autocannon refuses an amount below its connections.
  if (more > 0) await autocannon({ url: options.url, connections: options.connections, amount: Math.max(more, options.connections), requests: options.requests });
}

/** What a window counted: its answers, their latencies in ms as autocannon records them (whole, truncated), and the server's CPU time. */
interface Counted {
  readonly total: number;
  readonly seconds: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuMicros: number;
  readonly mainThreadCpuMicros: number;
}

/** A window's figures from what it counted; failures from autocannon's result for the whole run. */
const windowResult = (counted: Counted, run: autocannon.Result): WindowResult => ({
  ...counted,
  requestsPerSecond: roundRate(counted.total / counted.seconds),
  cpuMicrosPerRequest: counted.total === 0 ? 0 : Math.round(counted.cpuMicros / counted.total),
  mainThreadCpuMicrosPerRequest: counted.total === 0 ? 0 : Math.round(counted.mainThreadCpuMicros / counted.total),
  non2xx: run.non2xx,
  failed: run['4xx'] + run['5xx'],
  errors: run.errors + run.timeouts,
});

/** One measured window: the load and the server's CPU time around it. */
async function measureWindow(options: LoadOptions, seconds: number): Promise<WindowResult> {
  const cpuBefore = cpuMicros(options.serverPid);
  const mainBefore = mainThreadCpuMicros(options.serverPid);
  const result = await autocannon({ url: options.url, connections: options.connections, duration: seconds, requests: options.requests });
  const counted = {
    total: result.requests.total,
    seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuMicros: cpuMicros(options.serverPid) - cpuBefore,
    mainThreadCpuMicros: mainThreadCpuMicros(options.serverPid) - mainBefore,
  };
  return windowResult(counted, result);
}

/**
 * autocannon acts on its duration only at its next sample, every `sampleInt` ms (1,000 by default):
 * a settled window samples every 100 ms, and its load goes on at least this long past its counted
 * time, so that the end of that time, read off a timer, still falls under load.
 */
const SETTLED_SAMPLE_MS = 100;
const TAIL_SECONDS = 0.25;

/** The value at rank ⌈fraction × n⌉, as autocannon's HDR histogram reports a percentile. */
const percentile = (sorted: readonly number[], fraction: number): number => sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)] ?? 0;

interface Reading {
  readonly at: number;
  readonly cpu: number;
  readonly main: number;
}

/**
 * A window counted from `settlingSeconds` in, for `seconds`: the answers that arrive between two
 * readings of the clock and the server's CPU time, taken by timers on the event loop that receives
 * the answers, so both cover the same span. Failures count over the whole run, settling included,
 * so that one there still fails the bench. The rate the window would have had counted from its
 * start, as before 12-04, is logged beside it.
 */
async function measureSettledWindow(options: LoadOptions, seconds: number, settlingSeconds: number): Promise<WindowResult> {
  const read = (): Reading => ({ at: performance.now(), cpu: cpuMicros(options.serverPid), main: mainThreadCpuMicros(options.serverPid) });
  const latencies: number[] = [];
  let from: Reading | undefined;
  let to: Reading | undefined;
  const timers: NodeJS.Timeout[] = [];
  const started = performance.now();
  // Answers in the window's first `seconds`, as a window counted from its start had them.
  let fromTheStart = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const run = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: settlingSeconds + seconds + TAIL_SECONDS,
        sampleInt: SETTLED_SAMPLE_MS,
        requests: options.requests,
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    run.on('response', (_client, _status, _bytes, responseTime) => {
      if (from !== undefined && to === undefined) latencies.push(Math.trunc(responseTime));
      if (performance.now() - started < seconds * 1000) fromTheStart += 1;
    });
    timers.push(
      setTimeout(() => {
        from = read();
        timers.push(setTimeout(() => (to = read()), seconds * 1000));
      }, settlingSeconds * 1000),
    );
  }).finally(() => timers.forEach(clearTimeout));
  if (from === undefined || to === undefined) throw new Error('the load ended before the counted time of its window did');
  const countedSeconds = (to.at - from.at) / 1000;
  process.stderr.write(
    `  window: ${roundRate(latencies.length / countedSeconds)} a second counted after ${settlingSeconds} s, ${roundRate(fromTheStart / seconds)} a second counted from the start\n`,
  );
  latencies.sort((a, b) => a - b);
  const counted = {
    total: latencies.length,
    seconds: countedSeconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    cpuMicros: to.cpu - from.cpu,
    mainThreadCpuMicros: to.main - from.main,
  };
  return windowResult(counted, result);
}

/** Drives a server with autocannon for a fixed time, after a warm-up, and reads its CPU time around the run. */
export async function measure(options: LoadOptions): Promise<LoadResult> {
  await warmUp(options);
  const { cpuMicros: _cpu, mainThreadCpuMicros: _main, ...result } = await measureWindow(options, options.durationSeconds);
  return result;
}

/**
 * Measures a row compared with a ceiling measured on the same core (argon2's rate), in turns:
 * the ceiling after the warm-up, then each of `windows` windows of the row followed by the
 * ceiling again, so that the VM's drift within the row falls on both sides of the ratio. The
 * ceiling waits for the server to finish what a window left (logins still queued when the load
 * stopped): measured meanwhile, it would count against the ceiling, and those logins, still
 * queued when the next window starts, would fill the server's queue.
 *
 * Each window is counted from `settlingSeconds` in. The ceiling keeps its core busy from its first
 * instant and stops its clock once every verification has been counted; a window counted whole
 * did neither. It starts on a server stopped while the ceiling ran, its queue filling from empty
 * over 20 new connections, and its first answers left 0.16–0.35 s in where later ones left every
 * ~0.1 s; at its end, answers already paid for (held for their group, or the job running) were
 * not counted. Counted from the settled load onwards, the row is a steady rate, as the ceiling
 * is and as a login storm's is (BENCHMARKS.md, "Bench fixes").
 */
export async function measureAroundCeiling(options: LoadOptions, windows: number, ceiling: () => void, settlingSeconds: number): Promise<LoadResult> {
  const settledCeiling = async () => {
    if (!(await waitForIdle(options.serverPid))) process.stderr.write('the server was still busy after 5 s; measuring its ceiling anyway\n');
    ceiling();
  };
  await warmUp(options);
  await settledCeiling();
  const measured: WindowResult[] = [];
  for (let window = 0; window < windows; window += 1) {
    measured.push(await measureSettledWindow(options, options.durationSeconds / windows, settlingSeconds));
    await settledCeiling();
  }
  return combine(measured);
}

/**
 * Measures rows that are compared with each other in turns, `windows` windows each, so that a
 * moment when this VM runs slow falls on all of them alike instead of on whichever row it met
 * (measured one after the other, the same bare-koa row has cost 21 µs in one run and 40 µs in
 * the next). Counts and CPU time add up over a row's windows; its p50 is the median of theirs and
 * its p99 the highest.
 */
export async function measureInTurns(rows: readonly LoadOptions[], windows: number, { settle = false } = {}): Promise<LoadResult[]> {
  for (const row of rows) await warmUp(row);
  const measured: WindowResult[][] = rows.map(() => []);
  let previous: LoadOptions | undefined = rows.at(-1);
  for (let turn = 0; turn < windows; turn += 1) {
    // Each row leaves work behind (closing sockets, GC) in the next one's window: alternate who goes first.
    const order = [...rows.keys()];
    if (turn % 2 === 1) order.reverse();
    for (const index of order) {
      // With `settle`, the work a window leaves (logins still queued when its load stopped) is
      // done before the next window, whose server would otherwise share the core with it.
      if (settle && previous !== undefined && !(await waitForIdle(previous.serverPid))) {
        process.stderr.write('the previous server was still busy after 5 s; measuring the next window anyway\n');
      }
      measured[index]!.push(await measureWindow(rows[index]!, rows[index]!.durationSeconds / windows));
      previous = rows[index];
    }
  }
  return measured.map(combine);
}

function combine(windows: readonly WindowResult[]): LoadResult {
  const sum = (field: 'seconds' | 'total' | 'non2xx' | 'failed' | 'errors' | 'cpuMicros' | 'mainThreadCpuMicros') =>
    windows.reduce((total, window) => total + window[field], 0);
  const total = sum('total');
  const seconds = sum('seconds');
  const cpu = sum('cpuMicros');
  const main = sum('mainThreadCpuMicros');
  const p50s = windows.map((window) => window.p50).sort((a, b) => a - b);
  return {
    requestsPerSecond: roundRate(total / seconds),
    seconds,
    p50: p50s[Math.floor(p50s.length / 2)] ?? 0,
    p99: Math.max(...windows.map((window) => window.p99)),
    cpuMicrosPerRequest: total === 0 ? 0 : Math.round(cpu / total),
    mainThreadCpuMicrosPerRequest: total === 0 ? 0 : Math.round(main / total),
    total,
    non2xx: sum('non2xx'),
    failed: sum('failed'),
    errors: sum('errors'),
  };
}
