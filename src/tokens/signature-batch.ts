import { sign, type KeyObject } from 'node:crypto';

/** An ES256 signature in JWS form (r ‖ s, 64 bytes; RFC 7518 §3.4), made in the calling thread. */
export const es256Signature = (privateKey: KeyObject, input: string): Buffer =>
  sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });

/** Resolves to the ES256 signature of `input`. */
export type Es256Signer = (privateKey: KeyObject, input: string) => Promise<Buffer>;

/** At most this many signatures back to back: a request waits for at most one batch (2–5 ms). */
export const MAX_SIGNATURES_PER_BATCH = 64;

interface Job {
  readonly privateKey: KeyObject;
  readonly input: string;
  readonly resolve: (signature: Buffer) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Signs in batches, one per turn of the event loop: the signatures requested while a turn reads
 * and handles requests are made together, back to back, in the next check phase (setImmediate).
 *
 * OpenSSL's P-256 signing reads ~150 KB of precomputed tables. Made one per request between
 * everything else a request does, a signature finds them out of cache and costs ~70 µs here;
 * made back to back, ~30 µs. Under load many requests end in one turn, so batches fill by
 * themselves; a lone request waits one setImmediate hop. Nothing about the signature changes.
 * (Tests that fake timers must leave `setImmediate` real, or token requests never finish.)
 */
export function batchedSigner(schedule: (run: () => void) => void = setImmediate): Es256Signer {
  const queued: Job[] = [];
  let scheduled = false;

  const run = () => {
    const batch = queued.splice(0, MAX_SIGNATURES_PER_BATCH);
    scheduled = queued.length > 0;
    if (scheduled) schedule(run);
    for (const job of batch) {
      try {
        job.resolve(es256Signature(job.privateKey, job.input));
      } catch (error) {
        job.reject(error);
      }
    }
  };

  return (privateKey, input) =>
    new Promise<Buffer>((resolve, reject) => {
      queued.push({ privateKey, input, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        schedule(run);
      }
    });
}
