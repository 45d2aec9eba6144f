import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InProcessRow } from './in-process.js';
import type { LoadResult } from './load.js';
import type { IdleCost } from './processes.js';
import { roundRate } from './rates.js';

export interface Row extends LoadResult {
  readonly target: 'authd' | 'koa' | 'oidc-provider';
  readonly name: string;
}

export interface Report {
  readonly rows: Row[];
  /** Calls per second measured in the bench process: raw crypto ceilings, authd's own in-process work. */
  readonly inProcess: readonly InProcessRow[];
  /** argon2 verifications per second on the server's core, before the password row's windows and after each. */
  readonly argon2Rates: readonly number[];
  readonly argon2Cost: { memoryCost: number; timeCost: number; parallelism: number };
  /** authd's main thread with no requests, before the rows. */
  readonly idle: IdleCost;
  readonly durationSeconds: number;
  /** How long each of the password row's windows ran before it was counted. */
  readonly settlingSeconds: number;
  readonly connections: number;
  readonly pinned: boolean;
  readonly cpuModel: string;
  readonly root: string;
}

interface Check {
  readonly what: string;
  readonly measured: string;
  /** The same comparison by server CPU time per request (immune to a saturated load generator). */
  readonly byCpu?: string;
  readonly target: string;
  readonly met: boolean;
}

/**
 * The rate the password row is compared with: each window's ceiling is the mean of the
 * measurements just before and just after it, and the row's is the mean of its windows'.
 */
function argon2PerSecond({ argon2Rates: rates }: Report): number {
  if (rates.length < 2) return rates[0] ?? Number.NaN;
  const windows = rates.slice(1).map((after, index) => (rates[index]! + after) / 2);
  return windows.reduce((sum, rate) => sum + rate, 0) / windows.length;
}

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

function checks(report: Report): Check[] {
  const find = (target: Row['target'], name: string) => report.rows.find((row) => row.target === target && row.name === name);
  const rps = (target: Row['target'], name: string) => find(target, name)?.requestsPerSecond ?? Number.NaN;
  const cpu = (target: Row['target'], name: string) => find(target, name)?.cpuMicrosPerRequest ?? Number.NaN;
  const list: Check[] = [];
  const atLeast = (what: string, value: number, target: number, byCpu?: number) =>
    list.push({ what, measured: `${value.toFixed(2)}×`, target: `≥ ${target}×`, met: value >= target, ...(byCpu === undefined ? {} : { byCpu: `${byCpu.toFixed(2)}×` }) });
  const versus = (what: string, [target, name]: [Row['target'], string], [peer, peerName]: [Row['target'], string], wanted: number) =>
    atLeast(what, rps(target, name) / rps(peer, peerName), wanted, cpu(peer, peerName) / cpu(target, name));
  versus('client_credentials vs oidc-provider', ['authd', 'client_credentials'], ['oidc-provider', 'client_credentials'], 2);
  versus('JWKS vs oidc-provider JWKS', ['authd', 'jwks'], ['oidc-provider', 'jwks'], 2);
  versus('JWKS vs bare koa', ['authd', 'jwks'], ['koa', 'hello'], 0.7);
  versus('introspection vs oidc-provider', ['authd', 'introspection'], ['oidc-provider', 'introspection'], 1.5);
  const refresh = find('authd', 'refresh (rotation)');
  list.push({
    what: 'refresh with rotation',
    measured: `${refresh?.requestsPerSecond ?? 0} req/s, p99 ${refresh?.p99 ?? '-'} ms`,
    target: '≥ 1000 req/s, p99 < 50 ms',
    met: (refresh?.requestsPerSecond ?? 0) >= 1000 && (refresh?.p99 ?? Infinity) < 50,
  });
  // By CPU: the share of a login's server CPU spent off the main thread (argon2's threads, and V8's
  // at about 1% of them), which is what the rate would be if argon2 ran as fast in authd as alone.
  // It does not move with argon2's rate measured around the row, which the req/s ratio does.
  const password = find('authd', 'password grant');
  const offMainThread = password === undefined ? Number.NaN : 1 - password.mainThreadCpuMicrosPerRequest / password.cpuMicrosPerRequest;
  atLeast('password grant vs argon2 verify only', rps('authd', 'password grant') / argon2PerSecond(report), 0.9, offMainThread);
  const failing = report.rows.filter((row) => row.target === 'authd' && row.failed + row.errors > 0);
  list.push({
    what: 'every authd row answered without a 4xx, a 5xx or a connection error',
    measured: failing.length === 0 ? 'yes' : failing.map((row) => `${row.name}: ${row.failed} failed, ${row.errors} errors`).join('; '),
    target: 'none',
    met: failing.length === 0,
  });
  const slow = report.rows.filter((row) => row.target === 'authd' && row.name !== 'password grant' && row.p99 >= 25);
  list.push({
    what: `p99 of every authd endpoint but password at ${report.connections} connections`,
    measured: slow.length === 0 ? 'all < 25 ms' : slow.map((row) => `${row.name} ${row.p99} ms`).join(', '),
    target: '< 25 ms',
    met: slow.length === 0,
  });
  return list;
}

function peerRatio(report: Report, row: Row): string {
  const peerName: Record<string, [Row['target'], string] | undefined> = {
    client_credentials: ['oidc-provider', 'client_credentials'],
    introspection: ['oidc-provider', 'introspection'],
    'introspection (distinct tokens)': ['oidc-provider', 'introspection'],
    jwks: ['oidc-provider', 'jwks'],
    'jwks (If-None-Match)': ['koa', 'hello'],
  };
  if (row.target !== 'authd') return '';
  if (row.name === 'password grant') return `${(row.requestsPerSecond / argon2PerSecond(report)).toFixed(2)}× argon2`;
  const peer = peerName[row.name];
  const other = peer && report.rows.find((candidate) => candidate.target === peer[0] && candidate.name === peer[1]);
  return other ? `${(row.requestsPerSecond / other.requestsPerSecond).toFixed(2)}× ${peer[0] === 'koa' ? 'koa' : 'oidc-provider'}` : '';
}

const SERVER_ORDER: readonly Row['target'][] = ['authd', 'koa', 'oidc-provider'];

/** authd's rows first, then the peers', each in the order measured (rows measured in turns arrive interleaved). */
const byServer = (rows: readonly Row[]): Row[] => [...rows].sort((a, b) => SERVER_ORDER.indexOf(a.target) - SERVER_ORDER.indexOf(b.target));

function markdown(report: Report, date: string): string {
  // A settled window's counted time is read off timers, a few milliseconds either way.
  const longer = report.rows.filter((row) => Math.round(row.seconds) !== report.durationSeconds).map((row) => `${row.name} ${Math.round(row.seconds)} s`);
  const lines = [
    `Run ${date} · Node ${process.version} · ${report.cpuModel} · argon2id m=${report.argon2Cost.memoryCost} KiB, t=${report.argon2Cost.timeCost}, p=${report.argon2Cost.parallelism}`,
    `· ${report.connections} connections, ${report.durationSeconds} s per row${longer.length > 0 ? ` (${longer.join(', ')})` : ''}${report.argon2Rates.length > 0 ? ` · the password row's windows counted from ${report.settlingSeconds} s into their load` : ''} · ${report.pinned ? 'server pinned to core 0, load generator to core 1 (one-core server figures)' : 'not pinned (no taskset): two-core figures'}`,
    '',
    '| server | endpoint | req/s | p50 ms | p99 ms | server CPU µs/req | of it, main thread | ratio | non-2xx |',
    '|---|---|---:|---:|---:|---:|---:|---|---:|',
    ...byServer(report.rows).map(
      (row) =>
        `| ${row.target} | ${row.name} | ${row.requestsPerSecond} | ${row.p50} | ${row.p99} | ${row.cpuMicrosPerRequest} | ${row.mainThreadCpuMicrosPerRequest} | ${peerRatio(report, row)} | ${row.non2xx + row.errors} |`,
    ),
    ...report.inProcess.map(
      (row) => `| ${row.target} | ${row.name} | ${row.perSecond} | | | | | ${row.ofCeiling === undefined ? '' : `${row.ofCeiling.ratio.toFixed(2)}× ${row.ofCeiling.name}`} | |`,
    ),
    `| argon2 | verify only, server core (around the password row's windows: ${report.argon2Rates.join(' / ')}) | ${roundRate(argon2PerSecond(report))} | | | | | | |`,
    '',
    `Idle, before the rows (${report.idle.seconds} s): authd's main thread woke ${report.idle.wakeUpsPerSecond} times a second and used ${report.idle.cpuMillisPerSecond} ms of CPU a second.`,
    '',
    '| target | measured (req/s) | same by server CPU/req | wanted | met |',
    '|---|---|---|---|---|',
    ...checks(report).map((check) => `| ${check.what} | ${check.measured} | ${check.byCpu ?? ''} | ${check.target} | ${check.met ? 'yes' : '**no**'} |`),
  ];
  return lines.join('\n');
}

/** Prints the table, writes bench/results/latest.json and the generated part of BENCHMARKS.md. */
export async function writeReport(report: Report): Promise<void> {
  const date = new Date().toISOString();
  const table = markdown(report, date);
  process.stdout.write(`\n${table}\n`);
  const { root, ...data } = report;
  const summary = { date, node: process.version, ...data, argon2PerSecond: argon2PerSecond(report), checks: checks(report) };
  await writeFile(join(root, 'bench', 'results', 'latest.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const path = join(root, 'BENCHMARKS.md');
  const existing = await readFile(path, 'utf8').catch(() => `# Benchmarks\n\n${START}\n${END}\n`);
  const [before, rest = ''] = existing.split(START);
  const after = rest.split(END)[1] ?? '';
  await writeFile(path, `${before}${START}\n${table}\n${END}${after}`);
}
