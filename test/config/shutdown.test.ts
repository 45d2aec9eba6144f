import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { basicAuth } from '../support/fixtures.js';
import { closedPort } from '../support/net.js';
import { leaseTestRedis, type TestRedis } from '../support/redis.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let db: TestDatabase;
let redis: TestRedis;
let keysDir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = await leaseTestRedis();
  keysDir = await mkdtemp(join(tmpdir(), 'authd-shutdown-'));
  await db.query(
    `INSERT INTO clients (client_id, name, secret_hash, grant_types, updated_at)
     VALUES ('web', 'web', encode(sha256('s3cret'::bytea), 'hex'), '{password}', now())`,
  );
});
afterAll(() => Promise.all([db.drop(), redis.release(), rm(keysDir, { recursive: true, force: true })]));

it('SIGTERM lets an in-flight request finish, then exits 0 after logging "stopped"', async () => {
  const port = await closedPort();
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'main.js')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      KEYS_DIR: keysDir,
      ARGON2_MEMORY_KIB: '65536',
      ARGON2_TIME_COST: '4',
    },
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  while (!stdout.includes('authd listening')) await new Promise((resolve) => setTimeout(resolve, 50));

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
  const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(lines.map((line) => line['msg'])).toEqual(expect.arrayContaining(['draining and shutting down', 'stopped']));
  expect(lines.at(-1)!['msg']).toBe('stopped');
});
