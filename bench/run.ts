// `npm run bench`: authd's endpoints, bare koa, oidc-provider and the raw crypto ceilings in one run.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/config.js';
import { authdScenarios, type AuthdTarget, type Comparison, type Scenario } from './authd-scenarios.js';
import { argon2VerifyRate } from './ceilings.js';
import { inProcessMeasurements, measureInProcess } from './in-process.js';
import { measure, measureAroundCeiling, measureInTurns, type LoadResult } from './load.js';
import { canPin, idleCost, portInUse, startNode, stop, waitForHttp } from './processes.js';
import { writeReport, type Row } from './report.js';
import { accessTokenMinter, benchDatabaseUrl, benchRedisUrl, seedBenchDatabase } from './seed.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    connections: { type: 'string', default: '20' },
    only: { type: 'string' },
    against: { type: 'string' },
  },
});

// The load generator runs on core 1, the servers on core 0: one-core server figures.
if (canPin && process.env.AUTHD_BENCH_PINNED !== '1') {
  const rerun = spawnSync('taskset', ['-c', '1', process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, AUTHD_BENCH_PINNED: '1' },
  });
  process.exit(rerun.status ?? 1);
}

// Whole seconds: autocannon ends a run on a whole second, so a row of 7.5 s would run 8 and count as 7.5.
const durationSeconds = Number(values.duration ?? (values.quick ? 2 : 10));
if (!Number.isInteger(durationSeconds) || durationSeconds < 1) throw new Error(`--duration must be a whole number of seconds, not ${values.duration}`);
const warmUpSeconds = values.quick ? 1 : 2;
/** --against: the other checkout and its built server. */
const againstCheckout = values.against === undefined ? undefined : resolve(values.against);
const against = againstCheckout === undefined ? undefined : { checkout: againstCheckout, script: join(againstCheckout, 'dist/src/main.js') };
if (against !== undefined && !existsSync(against.script)) throw new Error(`--against: no ${against.script} (run npm run build in ${against.checkout} first)`);
// About a minute of password logins on one core; the other rows answer this many within 2 s. V8
// goes on optimizing the login's code for that long: 20–40 s into the row its compiler threads still
// took 3% of the core, and a login cost 6.6 ms beside argon2 at first, 4.5–5.3 ms past 1,400 (BENCHMARKS.md).
const warmUpRequests = values.quick ? 0 : 2500;
// Half a second leaves --quick under a minute; a window's late first answers are in by then.
const settlingSeconds = values.quick ? 0.5 : 1;
const connections = Number(values.connections);
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const config = loadConfig(process.env);
const rows: Row[] = [];
const log = (text: string) => process.stderr.write(`${text}\n`);

async function server(name: string, script: string, env: Record<string, string>, readyPath: string, port: number) {
  // Something already answering there (another bench's server) would be measured in this one's place.
  if (await portInUse(port)) throw new Error(`port ${port} is in use: is another bench running?`);
  const child = startNode(script, { PORT: String(port), ...env }, 0);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A child that exits first (the port taken after all, a bad configuration) fails the bench at once.
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it answered`))));
  try {
    await Promise.race([waitForHttp(`http://127.0.0.1:${port}${readyPath}`), exited]);
  } catch (error) {
    log(stderr);
    // Left running, it would hold core 0 and the port for the next bench.
    child.kill('SIGKILL');
    throw error;
  }
  log(`started ${name} (pid ${child.pid})`);
  return child;
}

type Requests = Parameters<typeof measure>[0]['requests'];

const summarize = (result: LoadResult) =>
  `${result.requestsPerSecond} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, ${result.cpuMicrosPerRequest} µs CPU/req (main thread ${result.mainThreadCpuMicrosPerRequest}), non-2xx ${result.non2xx}`;

/** A row to measure: where, what, and whose CPU time it is. */
interface Entry {
  readonly row: Omit<Row, keyof LoadResult>;
  readonly url: string;
  readonly requests: Requests;
  readonly pid: number | undefined;
}

const loadOptions = ({ url, requests, pid }: Entry, seconds: number) => ({
  url,
  connections,
  durationSeconds: seconds,
  warmUpSeconds,
  warmUpRequests,
  requests,
  serverPid: pid,
});

/** A row with `minSeconds` is measured for at least that long; compared with a ceiling, in windows at least that long. */
async function run(entry: Entry, { minSeconds = 1, ceiling }: { minSeconds?: number; ceiling?: () => void } = {}) {
  const seconds = Math.max(durationSeconds, minSeconds);
  if (ceiling === undefined) {
    log(`measuring ${entry.row.target} ${entry.row.name} for ${seconds} s`);
    rows.push({ ...entry.row, ...(await measure(loadOptions(entry, seconds))) });
    return;
  }
  // Equal whole-second windows, each at least the minimum.
  const windows = [3, 2].find((count) => seconds % count === 0 && seconds / count >= minSeconds) ?? 1;
  log(`measuring ${entry.row.target} ${entry.row.name} for ${seconds} s, in ${windows} window(s) between measurements of its ceiling`);
  // The ceiling is measured with every server stopped; the row, with every server but its own.
  const others = servers.filter((child) => child.pid !== entry.pid);
  for (const child of others) {
    stoppedForTheRow.add(child);
    child.kill('SIGSTOP');
  }
  try {
    rows.push({ ...entry.row, ...(await measureAroundCeiling(loadOptions(entry, seconds), windows, ceiling, settlingSeconds)) });
  } finally {
    for (const child of others) {
      stoppedForTheRow.delete(child);
      child.kill('SIGCONT');
    }
  }
}

/**
 * Rows compared with each other, measured in turns (see measureInTurns): windows of 2 s, or of 1 s
 * for an odd duration. A row that needs windows of `minSeconds` or more gets at least two of them,
 * each whole seconds long, and each started once the server of the window before is idle.
 */
async function measuredInTurns(entries: readonly Entry[], minSeconds = 1): Promise<LoadResult[]> {
  const long = minSeconds > 2;
  const seconds = long ? Math.max(durationSeconds, 2 * minSeconds) : durationSeconds;
  const windows = long ? Math.floor(seconds / minSeconds) : seconds % 2 === 0 ? seconds / 2 : seconds;
  const windowSeconds = Math.floor(seconds / windows);
  log(`measuring in turns, ${windows} windows of ${windowSeconds} s each: ${entries.map(({ row }) => `${row.target} ${row.name}`).join(', ')}`);
  return measureInTurns(entries.map((entry) => loadOptions(entry, windows * windowSeconds)), windows, { settle: long });
}

async function runInTurns(entries: readonly Entry[]) {
  const results = await measuredInTurns(entries);
  results.forEach((result, index) => rows.push({ ...entries[index]!.row, ...result }));
}

/** authd's port; --against's other build listens on OTHER_PORT. */
const THIS_PORT = 18500;
const OTHER_PORT = 18503;
const keysDir = await mkdtemp(join(tmpdir(), 'authd-bench-keys-'));
const servers: ChildProcess[] = [];
/** Servers stopped while a row compared with a ceiling runs (the peers beside authd): their idle timers would share its core. */
const stoppedForTheRow = new Set<ChildProcess>();
try {
  // One refresh token per rotation, for up to 10,000 rotations a second: a fast moment of the AMD VM
  // ran the row at ~4,000 a second (110 µs each) and spent the 4,000 a second seeded before. As
  // many access tokens are minted for the revocation row (which the 12-04 machine ran at ~9,000).
  // With --against, two servers in turns rotate for the whole duration each, in each of two passes.
  const rotations = (durationSeconds + warmUpSeconds) * 10_000 * (against === undefined ? 1 : 4);
  const seeded = await seedBenchDatabase(benchDatabaseUrl, benchRedisUrl, config.argon2, rotations);
  const authdEnv = { DATABASE_URL: benchDatabaseUrl, REDIS_URL: benchRedisUrl, KEYS_DIR: keysDir, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' };
  const authd = await server('authd', here('../src/main.js'), authdEnv, '/readyz', THIS_PORT);
  servers.push(authd);
  const target: AuthdTarget = {
    baseUrl: `http://127.0.0.1:${THIS_PORT}`,
    connections,
    ...seeded,
    mintAccessToken: await accessTokenMinter(keysDir, config.issuer),
    spendableRequests: rotations,
  };
  // Before any load and before the peers start, so that nothing but authd's own timers wakes it.
  log('measuring authd idle');
  const idle = await idleCost(authd.pid, values.quick ? 1 : 10);
  // --only NAME measures the authd rows whose name contains NAME and skips the peers (for profiling).
  // The peers run beside authd from the start, so that the authd rows of a comparison can be
  // measured in turns with the peer rows they are compared with.
  const peers = values.only === undefined && against === undefined ? await startPeers() : undefined;

  // argon2's rate is measured after the warm-up and after each window of the row compared with it,
  // on the server's core (measured a minute apart, this VM's drift alone moved the password ratio
  // by 20%), with every server stopped meanwhile: authd's idle timers and the logins it is still
  // finishing would otherwise count against argon2.
  const argon2Rates: number[] = [];
  const measureArgon2 = () => {
    log('measuring argon2 verify only');
    for (const child of servers) child.kill('SIGSTOP');
    try {
      argon2Rates.push(argon2VerifyRate(config.argon2, values.quick ? 1500 : 3000));
    } finally {
      for (const child of servers) if (!stoppedForTheRow.has(child)) child.kill('SIGCONT');
    }
  };
  const scenarios = authdScenarios.filter((candidate) => values.only === undefined || candidate.name.includes(values.only));
  const entryOf = async (scenario: Scenario, { baseUrl, pid } = { baseUrl: target.baseUrl, pid: authd.pid }): Promise<Entry> => ({
    row: { target: 'authd', name: scenario.name },
    url: baseUrl,
    requests: await scenario.requests({ ...target, baseUrl }),
    pid,
  });
  if (against !== undefined) {
    await compareBuilds(against, scenarios, entryOf, authdEnv, authd);
  } else {
    const comparisonsDone = new Set<string>();
    for (const scenario of scenarios) {
      const comparison = scenario.comparedWith;
      if (peers !== undefined && comparison !== undefined) {
        if (comparisonsDone.has(comparison)) continue;
        comparisonsDone.add(comparison);
        const own = await Promise.all(scenarios.filter((other) => other.comparedWith === comparison).map((scenario) => entryOf(scenario)));
        await runInTurns([...own, ...(await peers[comparison]())]);
        continue;
      }
      await run(await entryOf(scenario), { minSeconds: scenario.minSeconds, ceiling: scenario.ceiling === 'argon2' ? measureArgon2 : undefined });
    }
    for (const child of servers) await stop(child);
    if (values.only !== undefined) {
      for (const row of rows) log(`${row.name}: ${summarize(row)}`);
      log(`idle: main thread woke ${idle.wakeUpsPerSecond} times a second, ${idle.cpuMillisPerSecond} ms of CPU a second`);
      if (argon2Rates.length > 0) log(`argon2 verify only, around the row's windows: ${argon2Rates.join(' / ')} per second`);
    } else {
      log('measuring in process: raw ES256, the access-token verifier');
      const inProcess = await measureInProcess(inProcessMeasurements, values.quick ? 1000 : 3000);
      await writeReport({
        rows,
        inProcess,
        argon2Rates,
        argon2Cost: config.argon2,
        idle,
        durationSeconds,
        settlingSeconds,
        connections,
        pinned: canPin,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        root: here('../..'),
      });
    }
  }
} finally {
  for (const child of servers) await stop(child);
  await rm(keysDir, { recursive: true, force: true });
}

/** Starts bare koa and oidc-provider; returns, by comparison, how to build the peer rows measured in turns with authd's. */
async function startPeers(): Promise<Record<Comparison, () => Promise<Entry[]>>> {
  const koa = await server('koa hello', here('./peers/koa-hello.js'), {}, '/', 18501);
  servers.push(koa);
  const oidcSecret = 'bench-secret-bench-secret-bench-secret';
  const oidc = await server('oidc-provider', here('./peers/oidc-provider.js'), { CLIENT_SECRET: oidcSecret }, '/jwks', 18502);
  servers.push(oidc);
  const oidcUrl = 'http://127.0.0.1:18502';
  const oidcBasic = `Basic ${Buffer.from(`bench:${oidcSecret}`).toString('base64')}`;
  const oidcHeaders = { 'content-type': 'application/x-www-form-urlencoded', authorization: oidcBasic };
  const oidcRow = (name: string, requests: Requests): Entry => ({ row: { target: 'oidc-provider', name }, url: oidcUrl, requests, pid: oidc.pid });
  /** An opaque token of oidc-provider's, taken when its row starts (it lives 15 minutes) and checked to be active. */
  const opaqueToken = async (): Promise<string> => {
    const opaqueRequest = 'grant_type=client_credentials&scope=read&resource=https%3A%2F%2Fopaque.example.test';
    const issued = await fetch(`${oidcUrl}/token`, { method: 'POST', headers: oidcHeaders, body: opaqueRequest });
    const { access_token: token } = (await issued.json()) as { access_token?: string };
    const introspected = token && (await (await fetch(`${oidcUrl}/token/introspection`, { method: 'POST', headers: oidcHeaders, body: `token=${token}` })).json());
    if (!issued.ok || token === undefined || (introspected as { active?: boolean }).active !== true) throw new Error('oidc-provider gave no active opaque token');
    return token;
  };
  return {
    client_credentials: async () => [oidcRow('client_credentials', [{ method: 'POST', path: '/token', headers: oidcHeaders, body: 'grant_type=client_credentials&scope=read' }])],
    introspection: async () => [oidcRow('introspection', [{ method: 'POST', path: '/token/introspection', headers: oidcHeaders, body: `token=${await opaqueToken()}` }])],
    jwks: async () => [
      oidcRow('jwks', [{ method: 'GET', path: '/jwks' }]),
      { row: { target: 'koa', name: 'hello' }, url: 'http://127.0.0.1:18501', requests: [{ method: 'GET', path: '/' }], pid: koa.pid },
    ],
  };
}

/**
 * `--against <checkout>`: each authd row (those of `--only`, or all) measured in turns with the
 * same row of the authd built in another checkout (its `dist/`), both sharing this run's database,
 * Redis and keys, so that a slow moment of the machine falls on both builds alike: before/after
 * figures for a change. No peers, no ceilings, no report written.
 *
 * Measured twice: with this build's server started first, then, both restarted, with the other's.
 * Of one build on both sides, the server started first cost 1.22–1.32× the other's main-thread CPU
 * per login (every one of its windows, warm or not; 0.99–1.08× of all its threads'), so each
 * ratio is the geometric mean of the two passes', in which that lean falls once on each build.
 */
async function compareBuilds(
  { checkout, script }: { checkout: string; script: string },
  scenarios: readonly Scenario[],
  entryOf: (scenario: Scenario, server?: { baseUrl: string; pid: number | undefined }) => Promise<Entry>,
  env: Record<string, string>,
  running: ChildProcess,
) {
  const startThis = () => server('authd', here('../src/main.js'), env, '/readyz', THIS_PORT);
  const startOther = () => server(`authd of ${checkout}`, script, env, '/readyz', OTHER_PORT);
  type Ratios = { cpu: number; main: number };
  const passes: Map<string, Ratios>[] = [];
  let mine = running;
  for (const otherFirst of [false, true]) {
    if (otherFirst) for (const child of servers.splice(0)) await stop(child);
    const theirs = await startOther();
    servers.push(theirs);
    if (otherFirst) {
      mine = await startThis();
      servers.push(mine);
    }
    log(`pass ${passes.length + 1} of 2: ${otherFirst ? `${checkout}'s server started first` : "this build's server started first"}`);
    const ratios = new Map<string, Ratios>();
    for (const scenario of scenarios) {
      // The server started first also warms up first and leads the first turn.
      const own = await entryOf(scenario, { baseUrl: `http://127.0.0.1:${THIS_PORT}`, pid: mine.pid });
      const other = await entryOf(scenario, { baseUrl: `http://127.0.0.1:${OTHER_PORT}`, pid: theirs.pid });
      const results = await measuredInTurns(otherFirst ? [other, own] : [own, other], scenario.minSeconds);
      const [after, before] = otherFirst ? [results[1], results[0]] : [results[0], results[1]];
      log(`${scenario.name}, this build: ${summarize(after)}`);
      log(`${scenario.name}, ${checkout}: ${summarize(before)}`);
      // A refusal or an error costs less than an answer (a spent seed, a schema the other build does not know).
      if ([after, before].some((result) => result.total === 0 || result.failed + result.errors > 0)) {
        log(`${scenario.name}: NOT COMPARED, a build answered with errors or not at all`);
        continue;
      }
      ratios.set(scenario.name, {
        cpu: after.cpuMicrosPerRequest / before.cpuMicrosPerRequest,
        main: after.mainThreadCpuMicrosPerRequest / before.mainThreadCpuMicrosPerRequest,
      });
    }
    passes.push(ratios);
  }
  const [first, second] = passes as [Map<string, Ratios>, Map<string, Ratios>];
  for (const { name } of scenarios) {
    const one = first.get(name);
    const two = second.get(name);
    if (one === undefined || two === undefined) continue;
    const mean = (field: keyof Ratios) => `${Math.sqrt(one[field] * two[field]).toFixed(2)}× (${one[field].toFixed(2)} and ${two[field].toFixed(2)})`;
    log(`${name}: this build's CPU per request ${mean('cpu')} the other's; main thread ${mean('main')}`);
  }
}
