import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { waitUntil } from '../support/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The built entry point (npm test builds first), run in the project with only the given environment. */
const entryPoint = (env: Record<string, string>) =>
  [[join(ROOT, 'dist', 'src', 'main.js')], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } }] as const;

function start(env: Record<string, string>) {
  const [args, options] = entryPoint(env);
  return spawnSync(process.execPath, args, { ...options, encoding: 'utf8', timeout: 20_000 });
}

describe('start-up with a bad configuration', () => {
  it.each([
    [{ PORT: 'abc' }, 'authd: configuration error: PORT must be a whole number (got "abc")'],
    [{ ACCESS_TOKEN_TTL: '-5' }, 'authd: configuration error: ACCESS_TOKEN_TTL must be at least 1 (got "-5")'],
    [{ CORS_ORIGINS: '*' }, 'authd: configuration error: CORS_ORIGINS must list exact origins like https://app.example.com (scheme, host, optional port; no path, no *) (got "*")'],
    [{ DATABASE_URL: 'postgres//oops' }, 'authd: configuration error: DATABASE_URL must be a URL with scheme postgres:// or postgresql:// and a host, or ?host= naming a socket directory (got "postgres//oops")'],
  ])('%j stops with one line and exit code 1', (env, line) => {
    const result = start(env);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`${line}\n`);
  });
});

describe('start-up that cannot use KEYS_DIR, HOST or PORT', () => {
  let root: string;
  let occupied: Server;
  let occupiedPort: number;
  /** Postgres and Redis on closed ports: start-up gets as far as the keyring and the listen. */
  const unreachableServices = () => ({ DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1', KEYS_DIR: join(root, 'keys') });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'authd-startup-'));
    occupied = createServer();
    await new Promise<void>((resolve) => occupied.listen(0, '127.0.0.1', resolve));
    occupiedPort = (occupied.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => occupied.close(resolve));
    await rm(root, { recursive: true, force: true });
  });

  it('a KEYS_DIR that is a file stops with one line naming KEYS_DIR', async () => {
    const file = join(root, 'not-a-directory');
    await writeFile(file, '');
    const result = start({ ...unreachableServices(), KEYS_DIR: file });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`authd: configuration error: KEYS_DIR cannot be read: ${file} (ENOTDIR)\n`);
  });

  it('a REDIS_URL database Redis refuses (past its count) stops with one line, rather than using database 0', () => {
    const result = start({ ...unreachableServices(), REDIS_URL: 'redis://127.0.0.1:6379/99' });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('authd: configuration error: REDIS_URL names database 99, which Redis refused (authd would use database 0)\n');
  });

  it.each([
    [() => ({ HOST: '192.0.2.1' }), 'HOST 192.0.2.1 is not an address of this machine'],
    [() => ({ PORT: String(occupiedPort) }), () => `PORT ${occupiedPort} is already in use on 127.0.0.1`],
  ])('%#: a HOST or PORT authd cannot listen on stops with one line naming it', (env, line) => {
    const result = start({ ...unreachableServices(), ...env() });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`authd: configuration error: ${typeof line === 'string' ? line : line()}\n`);
  });

  /** Starts the built server with unreachable services; its output as it comes, and its exit. */
  function spawnServer(env: Record<string, string>) {
    const child = spawn(process.execPath, ...entryPoint({ ...unreachableServices(), ...env }));
    const output = { stdout: '', stderr: '' };
    child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
    return { child, output, exited };
  }
  /** Its first log line (Redis refusing) comes while start-up waits up to 2 s for Redis. */
  const whileWaitingForRedis = async (output: { stdout: string }) => {
    await waitUntil(() => output.stdout.includes('ECONNREFUSED'), 10_000);
    expect(output.stdout).toContain('ECONNREFUSED');
  };
  const messages = (stdout: string) => stdout.trim().split('\n').map((line) => (JSON.parse(line) as { msg: string }).msg);

  it('a SIGHUP while it starts does not end the process', async () => {
    const { child, output, exited } = spawnServer({ HOST: '192.0.2.1' });
    await whileWaitingForRedis(output);
    expect(child.kill('SIGHUP')).toBe(true);
    expect(await exited).toEqual([1, null]);
    expect(output.stderr).toBe('authd: configuration error: HOST 192.0.2.1 is not an address of this machine\n');
  });

  it('a SIGHUP while it starts reloads the keys once it has started', async () => {
    const { child, output, exited } = spawnServer({ PORT: '0' });
    await whileWaitingForRedis(output);
    child.kill('SIGHUP');
    await waitUntil(() => output.stdout.includes('SIGHUP: reloading keys'), 10_000);
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    const said = messages(output.stdout);
    expect(said.indexOf('SIGHUP: reloading keys')).toBeGreaterThan(said.indexOf('authd listening'));
    expect(said.filter((msg) => msg === 'SIGHUP: reloading keys')).toHaveLength(1);
  });

  it('a SIGTERM while it starts shuts it down cleanly once it has started, exit code 0', async () => {
    const { child, output, exited } = spawnServer({ PORT: '0' });
    await whileWaitingForRedis(output);
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    const said = messages(output.stdout);
    expect(said.slice(said.indexOf('authd listening'))).toEqual(['authd listening', 'draining and shutting down', 'stopped']);
  });

  it('a second SIGTERM while it starts ends it at once, as the signal would', async () => {
    // 192.0.2.1 is no address here: start-up fails at the listen, after the wait for Redis.
    const { child, output, exited } = spawnServer({ HOST: '192.0.2.1' });
    await whileWaitingForRedis(output);
    child.kill('SIGTERM');
    // Apart: a signal sent while the same one is still pending is merged into it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    child.kill('SIGTERM');
    expect(await exited).toEqual([143, null]);
    expect(output.stderr).toBe('');
  });

  it('an error nothing catches ends it with one fatal line that shows no token, exit code 1', async () => {
    const preload = pathToFileURL(join(ROOT, 'test', 'support', 'throw-on-sigusr2.mjs')).href;
    const { child, output, exited } = spawnServer({ PORT: '0', NODE_OPTIONS: `--import=${preload}` });
    await waitUntil(() => output.stdout.includes('authd listening'), 10_000);
    child.kill('SIGUSR2');
    expect(await exited).toEqual([1, null]);
    const fatal = output.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line['level'] === 'fatal');
    expect(fatal).toEqual([expect.objectContaining({ msg: 'uncaught error; exiting', origin: 'uncaughtException', err: expect.objectContaining({ message: 'boom [redacted]' }) })]);
    expect(output.stdout).not.toContain('rt_');
    expect(output.stderr).toBe('');
  });
});
