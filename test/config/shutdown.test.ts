import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processEnvironment, ROOT, runAuthdAsync, type ProcessEnvironment } from '../support/cli.js';
import { basicAuth } from '../support/fixtures.js';
import { closedPort } from '../support/net.js';
import { fillPipe, nonBlockingFifo } from '../support/pipes.js';
import { waitUntil } from '../support/wait.js';

let environment: ProcessEnvironment;

beforeAll(async () => {
  environment = await processEnvironment();
  await environment.db.query(
    `INSERT INTO clients (client_id, name, secret_hash, grant_types, updated_at)
     VALUES ('web', 'web', encode(sha256('s3cret'::bytea), 'hex'), '{password}', now())`,
  );
});
afterAll(() => environment.cleanup());

/** A password login slow enough to be still running when a signal comes. */
const SLOW_LOGINS = { ARGON2_MEMORY_KIB: '65536', ARGON2_TIME_COST: '4' };

/** authd in a process of its own, once it listens: its port, what it wrote to stdout so far, and its exit code once it ends. */
async function startedAuthd(env: Record<string, string> = {}) {
  const port = await closedPort();
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'main.js')], {
    cwd: ROOT,
    env: { ...environment.env, PORT: String(port), LOG_LEVEL: 'info', ...env },
  });
  const output = { stdout: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  while (!output.stdout.includes('authd listening')) await new Promise((resolve) => setTimeout(resolve, 50));
  return { port, child, output, exited };
}

it('SIGTERM lets an in-flight request finish, then exits 0 after logging "stopped"', async () => {
  const { port, child, output, exited } = await startedAuthd(SLOW_LOGINS);

  const inFlight = fetch(`http://127.0.0.1:${port}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth('web', 's3cret') },
    body: 'grant_type=password&username=nobody&password=x',
  });
  await new Promise((resolve) => setTimeout(resolve, 30));
  child.kill('SIGTERM');
  const response = await inFlight;
  expect(response.status).toBe(400);
  expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  expect(await exited).toBe(0);
  const lines = output.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(lines.map((line) => line['msg'])).toEqual(expect.arrayContaining(['draining and shutting down', 'stopped']));
  expect(lines.at(-1)!['msg']).toBe('stopped');
});

it('SIGTERM makes the answer to a request running on a kept-alive connection say Connection: close, and closes the connection after it', async () => {
  const { port, child, exited } = await startedAuthd(SLOW_LOGINS);

  // One connection, as a proxy's pool keeps it, with a login running when SIGTERM comes.
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined); // the server closes it; how the close is seen is not the point
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const body = 'grant_type=password&username=nobody&password=x';
  socket.write(
    `POST /token HTTP/1.1\r\nHost: authd\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
      `Authorization: ${basicAuth('web', 's3cret')}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  await new Promise((resolve) => setTimeout(resolve, 30));
  child.kill('SIGTERM');
  await closed;

  expect(/^HTTP\/1\.1 (\d+)[^]*?\r\nConnection: (\S+)\r\n/i.exec(received)?.slice(1)).toEqual(['400', 'close']);
  expect(received).toContain('"error":"invalid_grant"');
  expect(await exited).toBe(0);
});

it('SIGHUP re-reads the keyring at once: a key rotated by another process is published without waiting for the 60 s reload', async () => {
  const { port, child, output, exited } = await startedAuthd();
  try {
    const kids = async () => ((await (await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.length;
    const before = await kids();
    expect((await runAuthdAsync(environment.env, ['keys', 'rotate'])).status).toBe(0);
    expect(await kids()).toBe(before);
    child.kill('SIGHUP');
    for (let attempt = 0; attempt < 60 && (await kids()) === before; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await kids()).toBe(before + 1);
    // Log lines leave in batches, at most 100 ms apart.
    for (let attempt = 0; attempt < 40 && !output.stdout.includes('SIGHUP: reloading keys'); attempt += 1) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(output.stdout).toContain('SIGHUP: reloading keys');
  } finally {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }
});

it('SIGTERM ends the process even when stdout is a full pipe that nobody reads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'authd-stdout-'));
  const { writer: stdout } = nonBlockingFifo(dir, 'stdout');
  fillPipe(stdout);
  const port = await closedPort();
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'main.js')], {
    cwd: ROOT,
    env: { ...environment.env, PORT: String(port), LOG_LEVEL: 'info' },
    stdio: ['ignore', stdout, 'ignore'],
  });
  try {
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    await waitUntil(() => fetch(`http://127.0.0.1:${port}/healthz`).then((response) => response.ok, () => false), 15_000, 50);
    const stopping = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
    // Up to 5 s for stdout to take the last lines, then a second more at exit.
    expect(Date.now() - stopping).toBeLessThan(10_000);
  } finally {
    child.kill('SIGKILL');
    closeSync(stdout);
    rmSync(dir, { recursive: true, force: true });
  }
}, 40_000);
