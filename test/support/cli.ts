import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from './database.js';
import { leaseTestRedis, type TestRedis } from './redis.js';

/** The repository root, where the built `dist/` and `bin/` are (npm test builds first). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A database, a Redis db and a keys directory of this file's own, as environment variables for authd. */
export interface ProcessEnvironment {
  readonly db: TestDatabase;
  readonly redis: TestRedis;
  readonly keysDir: string;
  /** PATH, DATABASE_URL, REDIS_URL, KEYS_DIR, a low argon2 cost and LOG_LEVEL=warn. */
  readonly env: Record<string, string>;
  cleanup(): Promise<void>;
}

export async function processEnvironment(): Promise<ProcessEnvironment> {
  const db = await createTestDatabase();
  const redis = await leaseTestRedis();
  const keysDir = await mkdtemp(join(tmpdir(), 'authd-process-keys-'));
  return {
    db,
    redis,
    keysDir,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      KEYS_DIR: keysDir,
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      LOG_LEVEL: 'warn',
    },
    cleanup: async () => {
      await Promise.all([db.drop(), redis.release(), rm(keysDir, { recursive: true, force: true })]);
    },
  };
}

/** Runs the built `authd` command as a user would, stdin piped (never a TTY). */
export function runAuthd(env: Record<string, string>, args: string[], input = '') {
  const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'authd.js'), ...args], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    timeout: 30_000,
    env,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `runAuthd` without blocking this process, for tests that serve something to the command meanwhile. */
export function runAuthdAsync(env: Record<string, string>, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'authd.js'), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
