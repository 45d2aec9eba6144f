import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { systemClock } from '../src/clock.js';
import { createAccessTokenIssuer } from '../src/flows/access-token-issuer.js';
import { generateKeyRecord } from '../src/keys/key-file.js';
import { createAccessTokenVerifier, VERIFIED_CACHE_ENTRIES } from '../src/tokens/access-token-verifier.js';
import { roundRate } from './rates.js';

/** Something measured inside the bench process (one core): calls per second of one operation. */
export interface InProcessMeasurement {
  readonly target: 'node:crypto' | 'authd';
  readonly name: string;
  /** The row it is a share of (a raw ceiling), by name. */
  readonly ceiling?: string;
  /** Sets up, and returns the operation to repeat. */
  prepare(): Promise<() => void>;
}

export interface InProcessRow {
  readonly target: InProcessMeasurement['target'];
  readonly name: string;
  readonly perSecond: number;
  /** `perSecond` as a share of the ceiling's, when it has one. */
  readonly ofCeiling?: { readonly name: string; readonly ratio: number };
}

const SIGNING_INPUT = Buffer.from('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiZW5jaCIsImV4cCI6MTc5NTM5MDY3NX0');
const ES256 = { dsaEncoding: 'ieee-p1363' } as const;
const ES256_VERIFY = 'ES256 verify (one core)';

/** The raw crypto ceilings, and authd's own in-process work; a new one is one more entry. */
export const inProcessMeasurements: InProcessMeasurement[] = [
  {
    target: 'node:crypto',
    name: 'ES256 sign (one core)',
    async prepare() {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      return () => sign('sha256', SIGNING_INPUT, { key: privateKey, ...ES256 });
    },
  },
  {
    target: 'node:crypto',
    name: ES256_VERIFY,
    async prepare() {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const publicKey = createPublicKey(privateKey);
      const signature = sign('sha256', SIGNING_INPUT, { key: privateKey, ...ES256 });
      return () => {
        if (!verify('sha256', SIGNING_INPUT, { key: publicKey, ...ES256 }, signature)) throw new Error('the bench signature did not verify');
      };
    },
  },
  {
    // Every check a resource server's introspection gets, on tokens it has not verified yet.
    target: 'authd',
    name: 'access-token verifier, distinct tokens (one core)',
    ceiling: ES256_VERIFY,
    async prepare() {
      const now = new Date();
      const key = generateKeyRecord(now, now);
      const issuer = 'https://authd.bench.test';
      const tokens = createAccessTokenIssuer({ issuer, keys: { activeKey: () => key }, clock: systemClock });
      // Twice what the verifier caches, taken in turn: its cache drops the older half of its
      // entries when full, so a token is long gone when its turn comes again.
      const minted = await Promise.all(
        Array.from({ length: 2 * VERIFIED_CACHE_ENTRIES }, async () =>
          (await tokens.issue({ subject: 'bench', clientId: 'bench', audience: 'https://api.bench.test', scopes: ['read'], ttlSeconds: 3600 })).token,
        ),
      );
      const verifier = createAccessTokenVerifier({ issuer, keys: { verificationKey: (kid) => (kid === key.kid ? key.publicKey : undefined) }, clock: systemClock });
      let next = 0;
      return () => {
        if (!verifier(minted[next++ % minted.length]!).valid) throw new Error('the bench token did not verify');
      };
    },
  },
];

/** Calls per second of `op`, run back to back for `ms`. */
function rate(op: () => void, ms: number): number {
  const started = performance.now();
  const deadline = started + ms;
  let count = 0;
  while (performance.now() < deadline) {
    op();
    count += 1;
  }
  return roundRate((count * 1000) / (performance.now() - started));
}

/** Measures each entry for `ms`, in order. */
export async function measureInProcess(measurements: readonly InProcessMeasurement[], ms: number): Promise<InProcessRow[]> {
  const rows: InProcessRow[] = [];
  for (const measurement of measurements) {
    const perSecond = rate(await measurement.prepare(), ms);
    const ceiling = rows.find((row) => row.name === measurement.ceiling);
    if (measurement.ceiling !== undefined && ceiling === undefined) throw new Error(`${measurement.name}: its ceiling "${measurement.ceiling}" is not measured before it`);
    rows.push({
      target: measurement.target,
      name: measurement.name,
      perSecond,
      ...(ceiling === undefined ? {} : { ofCeiling: { name: ceiling.name, ratio: perSecond / ceiling.perSecond } }),
    });
  }
  return rows;
}
