import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { canPin } from './processes.js';
import { roundRate } from './rates.js';

/** Operations per second of `op`, run back to back for `ms`. */
function rate(op: () => void, ms: number): number {
  const deadline = performance.now() + ms;
  let count = 0;
  const started = performance.now();
  while (performance.now() < deadline) {
    op();
    count += 1;
  }
  return roundRate((count * 1000) / (performance.now() - started));
}

/** Raw ES256 signing and verification with node:crypto, one core. */
export function es256Rates(ms: number): { sign: number; verify: number } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKey = createPublicKey(privateKey);
  const data = Buffer.from('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiZW5jaCIsImV4cCI6MTc5NTM5MDY3NX0');
  const signature = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return {
    sign: rate(() => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }), ms),
    verify: rate(() => verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature), ms),
  };
}

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
