import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LogOutput } from './log-output.js';

/** Every metric authd exports, on a registry of its own (one per app, so tests stay apart). */
export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly tokensIssued: Counter<'grant_type'>;
  readonly refreshReuseDetected: Counter;
  readonly revocations: Counter<'token_type'>;
  readonly argon2QueueDepth: Gauge;
  readonly argon2Workers: Gauge;
  readonly argon2Abandoned: Counter;
  readonly loginFailures: Counter;
  readonly loginRefused: Counter<'reason'>;
  readonly loginThrottleLocal: Counter;
}

export interface MetricsOptions {
  readonly defaultMetrics?: boolean;
  /** The state of the in-process denylist copy, read at each scrape. */
  readonly denylistCopy?: () => { readonly complete: boolean; readonly size: number };
  /** The log output's dropped lines and refused writes so far, read at each scrape. */
  readonly logOutput?: Pick<LogOutput, 'droppedLines' | 'failedWrites'>;
}

export function createMetrics({ defaultMetrics = true, denylistCopy, logOutput }: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'authd_' });
  const registers = [registry];
  if (denylistCopy !== undefined) {
    new Gauge({
      name: 'authd_denylist_copy_complete',
      help: '1 while revocation checks are answered from the in-process copy, 0 while they go to Redis',
      registers,
      collect() {
        this.set(denylistCopy().complete ? 1 : 0);
      },
    });
    new Gauge({
      name: 'authd_denylist_copy_entries',
      help: 'Unexpired revoked access tokens held in the in-process copy',
      registers,
      collect() {
        this.set(denylistCopy().size);
      },
    });
  }
  if (logOutput !== undefined) {
    countedAtScrape(registers, 'authd_log_lines_dropped_total', 'Log lines dropped because the log output (stdout) did not take them and its buffer was full, or because its pipe broke', () => logOutput.droppedLines());
    countedAtScrape(registers, 'authd_log_write_failures_total', 'Write attempts that the log output (stdout) refused; their lines stay buffered and are tried again, except after a broken pipe (counted once)', () => logOutput.failedWrites());
  }
  return {
    registry,
    httpRequests: new Counter({
      name: 'authd_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    }),
    httpDuration: new Histogram({
      name: 'authd_http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    tokensIssued: new Counter({
      name: 'authd_tokens_issued_total',
      help: 'Access tokens issued by grant type',
      labelNames: ['grant_type'],
      registers,
    }),
    refreshReuseDetected: new Counter({
      name: 'authd_refresh_reuse_detected_total',
      help: 'Spent refresh tokens presented again (the family was revoked)',
      registers,
    }),
    revocations: new Counter({
      name: 'authd_revocations_total',
      help: 'Tokens revoked through POST /revoke, by type (reuse detection counts in authd_refresh_reuse_detected_total)',
      labelNames: ['token_type'],
      registers,
    }),
    argon2QueueDepth: new Gauge({
      name: 'authd_argon2_queue_depth',
      help: 'Password hashing jobs waiting for a worker',
      registers,
    }),
    argon2Workers: new Gauge({
      name: 'authd_argon2_workers',
      help: 'Password hashing jobs run at once (see UV_THREADPOOL_SIZE)',
      registers,
    }),
    argon2Abandoned: new Counter({
      name: 'authd_argon2_abandoned_total',
      help: 'Password checks dropped from the queue because the client had disconnected or the login had waited too long',
      registers,
    }),
    loginFailures: new Counter({
      name: 'authd_login_failures_total',
      // One count for a wrong password, an unknown user and a disabled user: /metrics is served to
      // anyone, and a count by reason would tell them which usernames exist. The audit log has the reason.
      help: 'Failed password logins: a wrong password, an unknown user or a disabled user',
      registers,
    }),
    loginRefused: new Counter({
      name: 'authd_login_refused_total',
      help: 'Password logins refused before any password work (429, unless the client had left): pair or ip (locked), busy (no place came free in the pair or the IP)',
      labelNames: ['reason'],
      registers,
    }),
    loginThrottleLocal: new Counter({
      name: 'authd_login_throttle_local_total',
      help: 'Login throttle steps (asking for a place, counting a failure) answered by this instance alone because Redis did not answer',
      registers,
    }),
  };
}

/** A counter whose count another module keeps: it catches up with `count()` at each scrape. */
function countedAtScrape(registers: Registry[], name: string, help: string, count: () => number): void {
  let counted = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const now = count();
      this.inc(now - counted);
      counted = now;
    },
  });
}
