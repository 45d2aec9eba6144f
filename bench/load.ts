import autocannon from 'autocannon';
import { cpuMicros } from './processes.js';
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
  /** Runs between the warm-up and the measured window (a ceiling measured right before the row). */
  readonly afterWarmUp?: () => void;
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
  readonly total: number;
  readonly non2xx: number;
  /** 4xx and 5xx answers: a fast refusal would count as a served request. */
  readonly failed: number;
  readonly errors: number;
}

/** Drives a server with autocannon for a fixed time and reads its CPU time around the run. */
export async function measure(options: LoadOptions): Promise<LoadResult> {
  const warmUp = await autocannon({ url: options.url, connections: options.connections, duration: options.warmUpSeconds, requests: options.requests });
  const moreWarmUp = options.warmUpRequests - warmUp.requests.total;
  // autocannon refuses an amount below its connections.
  if (moreWarmUp > 0) await autocannon({ url: options.url, connections: options.connections, amount: Math.max(moreWarmUp, options.connections), requests: options.requests });
  options.afterWarmUp?.();
  const cpuBefore = cpuMicros(options.serverPid);
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    requests: options.requests,
  });
  const cpu = cpuMicros(options.serverPid) - cpuBefore;
  const total = result.requests.total;
  return {
    requestsPerSecond: roundRate(total / options.durationSeconds),
    seconds: options.durationSeconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuMicrosPerRequest: total === 0 ? 0 : Math.round(cpu / total),
    total,
    non2xx: result.non2xx,
    failed: result['4xx'] + result['5xx'],
    errors: result.errors + result.timeouts,
  };
}
