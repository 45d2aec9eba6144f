import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { canPin } from './processes.js';

/**
 * argon2id verifications per second on the server's core at the configured cost, through the same
 * hasher and concurrency authd uses: the most a password grant can do there.
 */
export function argon2VerifyRate(cost: { memoryCost: number; timeCost: number; parallelism: number }, ms: number): number {
  const script = fileURLToPath(new URL('./argon2-rate.js', import.meta.url));
  const args = [script, JSON.stringify(cost), String(ms)];
  const result = canPin
    ? spawnSync('taskset', ['-c', '0', process.execPath, ...args], { encoding: 'utf8' })
    : spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`argon2 rate failed: ${result.stderr}`);
  return Number(result.stdout.trim());
}
