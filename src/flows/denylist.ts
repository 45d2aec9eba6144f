import type { Clock } from '../clock.js';
import { denylistedIfExpiringAfter, type RevokedAccessToken } from '../domain/revocation.js';
import { temporarilyUnavailable } from '../errors/oauth-error.js';
import { describeError, type Logger } from '../observability/logger.js';
import type { DenylistCache } from '../stores/denylist-cache.js';
import type { RevocationFeed } from '../stores/denylist-events.js';
import type { RecordedRevocation, RevocationStore } from '../stores/revocation-store.js';
import { oneAtATime } from '../one-at-a-time.js';
import { createRevokedSet } from './revoked-set.js';

/** Rows read from Postgres at a time when re-seeding, loading the copy or catching up. */
const PAGE_SIZE = 1000;
/**
 * Catch-up looks this far behind the last sync's start, for transactions that committed late. The
 * time since that start is measured on this process's monotonic clock, and a revocation's stamp is
 * Postgres's (RevocationStore), so no two hosts' clocks are ever compared and no step of one counts.
 */
const CATCH_UP_MARGIN_MS = 30_000;
/**
 * After the in-process copy overflowed (more unexpired revocations than it holds), how long checks
 * stay with Redis before the copy is loaded again: not at every sync, where each load would read
 * more than a million rows to no end while a flood of revocations lasts.
 */
export const COPY_RETRY_AFTER_OVERFLOW_MS = 5 * 60_000;

export interface Denylist {
  /**
   * Records revocations in Postgres (the commit), then Redis (best effort; re-seeding repairs it),
   * also those Postgres had recorded before: the revocation that recorded one may not have told
   * Redis yet, and the caller's answer must not come before it. Returns how many Postgres had
   * not recorded before (another revocation of the same token may have committed first).
   */
  revoke(tokens: readonly RevokedAccessToken[]): Promise<number>;
  /** Pushes revocations already recorded in Postgres (inside a transaction) to Redis. */
  publish(tokens: readonly RevokedAccessToken[]): Promise<void>;
  /**
   * The in-process copy while it is complete; else Redis once this process has re-seeded it since
   * connecting (and while its seeded marker stands: a flush takes it), else Postgres; 503 when the
   * one asked fails and Postgres does too (fail closed).
   */
  isRevoked(jti: string): Promise<boolean>;
  /**
   * Keeps an in-process copy (server instances): subscribes to the revocation channel, loads the
   * unexpired revocations from Postgres once Redis confirms the subscription, and answers from
   * memory until the subscription is lost.
   */
  follow(): void;
  /** Whether checks are answered in-process right now, and how many jtis the copy holds. */
  copyState(): { readonly complete: boolean; readonly size: number };
  /**
   * Makes Redis hold every unexpired revocation Postgres holds, writing only the keys it lacks
   * (after a reconnect without a restart, none). Run at each connection to Redis: until one ends,
   * checks that reach past the in-process copy ask Postgres.
   */
  reseed(): Promise<number>;
  /**
   * The connection to Redis has closed (run at each 'close'): the Redis it reconnects to may be one
   * restarted from a snapshot, so until a re-seed started after this ends, checks that reach past
   * the in-process copy ask Postgres. Without it, a check sent before the next connection's re-seed
   * starts (one queued while Redis was down, or any once shutdown has stopped re-seeds) took its word.
   */
  disconnected(): void;
  /**
   * Keeps Redis complete: a full re-seed when Redis lost the marker of the last seeding (flush,
   * restart) or no re-seed of this process has ended since it connected (none ran, or it failed),
   * else a catch-up of what was recorded lately (by the CLI or an instance that could not reach
   * Redis at the time). The in-process copy catches up too, from Postgres, whether Redis answers or not.
   */
  sync(): Promise<void>;
  /**
   * At shutdown: no re-seed or load of the copy starts from now on (a Redis reconnect, a
   * subscription), and a running one or a sync reads no further page; one cut short marks nothing
   * seeded or complete.
   */
  stop(): void;
  /**
   * Resolves once no re-seed, load of the copy or sync is running or waiting: at shutdown, after
   * `stop`, before the connections they use are closed.
   */
  settled(): Promise<void>;
  /** Deletes the revocations of expired tokens; none after `stop` has aborted. */
  pruneExpired(stop?: AbortSignal): Promise<number>;
}

export interface DenylistDeps {
  readonly store: RevocationStore;
  readonly cache: DenylistCache;
  readonly feed: RevocationFeed;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The in-process copy's size bound (default MAX_REVOKED_ENTRIES). */
  readonly copyLimit?: number;
}

/** A re-seed, load or sync cut short between two pages by `stop`: it marks nothing seeded or complete. */
class StoppedError extends Error {
  override readonly name = 'StoppedError';
}

/** Ends a run that `stop` cut short with `value`, quietly (a shutdown, not a failure); rethrows anything else. */
const endedByStop =
  <T>(value: T) =>
  (error: unknown): T => {
    if (error instanceof StoppedError) return value;
    throw error;
  };

export function createDenylist({ store, cache, feed, clock, logger, copyLimit }: DenylistDeps): Denylist {
  const now = () => new Date(clock.now());
  const copy = createRevokedSet(copyLimit);
  let subscribed = false;

  /**
   * Announces revocations Postgres already holds: this instance's copy at once, Redis and the others
   * next. `ifAbsent` for those another revocation recorded: its reason is the one that stands.
   */
  const publish = async (tokens: readonly RevokedAccessToken[], { ifAbsent = false } = {}) => {
    if (tokens.length === 0) return;
    copy.add(tokens);
    try {
      await cache.add(tokens, now(), { ifAbsent });
    } catch (error) {
      distrustRedis();
      logger.warn({ err: describeError(error), count: tokens.length }, 'denylist: Redis write failed; Postgres holds the revocation');
    }
  };

  /**
   * When the last sync that caught Redis up started, and when the copy last caught up (at every
   * sync, Redis answering or not), on a clock that never steps (performance.now): only the time
   * since matters.
   */
  let lastSyncStarted = performance.now();
  let copyCaughtUp = lastSyncStarted;
  /** Set by `stop`: no re-seed or load starts from then on, and none reads another page. */
  let stopped = false;

  /**
   * Visits every page `readPage` hands out, each read after the last row of the one before, until
   * there are no more or `enough` says so; returns how many rows. Throws StoppedError instead of
   * reading a page once `stop` has been called: what it visited is then not the whole.
   */
  const eachPage = async <Row>(readPage: (after: Row | undefined) => Promise<Row[]>, visit: (page: Row[]) => Promise<void> | void, enough = () => false) => {
    let count = 0;
    let after: Row | undefined;
    for (;;) {
      if (stopped) throw new StoppedError();
      const page = await readPage(after);
      if (page.length === 0) return count;
      await visit(page);
      count += page.length;
      if (enough()) return count;
      after = page[page.length - 1];
    }
  };

  const eachUnexpiredPage = (visit: (page: RevokedAccessToken[]) => Promise<void> | void, enough?: () => boolean) =>
    eachPage((after: RevokedAccessToken | undefined) => store.unexpired(denylistedIfExpiringAfter(now()), after?.jti, PAGE_SIZE), visit, enough);

  /** Sets the keys Redis lacks of revocations Postgres holds (one read per page; most are usually there). */
  const restoreMissing = async (tokens: readonly RevokedAccessToken[]) => {
    const missing = await cache.missing(tokens);
    if (missing.length === 0) return;
    try {
      await cache.add(missing, now(), { announce: false });
    } catch (error) {
      // Keys it lacks and will not take: until a re-seed ends, they prove nothing here either.
      distrustRedis();
      throw error;
    }
  };

  /**
   * Whether this process has seen a re-seed end since it last asked for one (at each connection to
   * Redis): until then a key Redis lacks proves nothing, for a Redis restarted from a snapshot has
   * the seeded marker back without the revocations made after the snapshot.
   */
  let seededSinceConnect = false;
  let reseeds = 0;
  /**
   * After a write Redis refused while it may still answer reads (a replica after a failover, a
   * full memory), or a closed connection: a key it lacks proves nothing until a re-seed that starts
   * after this ends (the next sync's, or the next connection's), so Postgres answers meanwhile. A
   * re-seed running now does not count.
   */
  const distrustRedis = () => {
    seededSinceConnect = false;
    reseeds += 1;
  };

  /**
   * The re-seeds running: a sync re-seeds when none runs and none has ended since the connection
   * (one failed, or none ran); `settled` waits for them.
   */
  const reseedsGoing = new Set<Promise<number>>();
  const reseed = () => {
    if (stopped) return Promise.resolve(0);
    const going = reseedOnce().catch(endedByStop(0));
    reseedsGoing.add(going);
    void going.then(
      () => reseedsGoing.delete(going),
      () => reseedsGoing.delete(going),
    );
    return going;
  };
  const reseedOnce = async () => {
    const mine = (reseeds += 1);
    seededSinceConnect = false;
    const seeding = await cache.beginSeeding();
    const count = await eachUnexpiredPage(restoreMissing);
    if (await cache.markSeeded(seeding)) {
      if (mine === reseeds) seededSinceConnect = true;
      logger.info({ count }, 'denylist: Redis seeded from Postgres');
    } else {
      logger.warn({ count }, 'denylist: Redis was flushed during the re-seed; re-seeding again at the next sync');
    }
    return count;
  };

  /** When a sync first found the copy overflowed, since its last load began. */
  let overflowFoundAt: number | undefined;

  /** One load of the copy; it stops reading once the copy overflows. */
  const loadOnce = async () => {
    overflowFoundAt = undefined;
    const generation = copy.invalidate();
    const count = await eachUnexpiredPage((page) => copy.add(page), () => copy.isOverflowed());
    if (copy.markComplete(generation)) logger.info({ count }, 'denylist: in-process copy loaded; checks answered in memory');
  };

  /**
   * Runs after each confirmed subscription: whatever was revoked before it is in Postgres. One load
   * at a time: a subscription lost and confirmed again during a load (which voids it) gets the next.
   */
  const loads = oneAtATime(() => loadOnce().catch(endedByStop(undefined)));

  /** Whether a sync should load the incomplete copy: at once, unless it overflowed; then once the retry time has passed. */
  const copyLoadDue = (): boolean => {
    if (!copy.isOverflowed()) return true;
    if (overflowFoundAt === undefined) {
      overflowFoundAt = clock.now();
      logger.warn(
        { retryInSeconds: COPY_RETRY_AFTER_OVERFLOW_MS / 1000 },
        'denylist: more unexpired revocations than the in-process copy holds; checks go to Redis, and the copy is loaded again later',
      );
      return false;
    }
    return clock.now() - overflowFoundAt >= COPY_RETRY_AFTER_OVERFLOW_MS;
  };

  /**
   * Revocations recorded within the last `withinMs` that Redis or the copy may lack (recorded by
   * the CLI, or by an instance that could not reach Redis or stopped before it wrote, or keys lost
   * since), a page at a time: into the copy, and with `restore` into Redis where their keys are missing.
   */
  const catchUp = (withinMs: number, restore: boolean) =>
    eachPage(
      (after: RecordedRevocation | undefined) => store.recordedWithin(withinMs, denylistedIfExpiringAfter(now()), after, PAGE_SIZE),
      async (page) => {
        copy.add(page);
        if (restore) await restoreMissing(page);
      },
    );

  const syncOnce = async () => {
    const started = performance.now();
    const unconfirmed = !seededSinceConnect && reseedsGoing.size === 0; // a re-seed failed, or none ran
    const sinceCopyCaughtUp = started - copyCaughtUp + CATCH_UP_MARGIN_MS;
    try {
      if (unconfirmed || !(await cache.isSeeded())) {
        await reseed();
        await catchUp(sinceCopyCaughtUp, false); // a re-seed writes Redis only
      } else {
        await catchUp(started - lastSyncStarted + CATCH_UP_MARGIN_MS, true);
      }
    } catch (error) {
      // A Redis that hangs keeps the subscription's connection open: the copy still counts as
      // complete while no message reaches it, so it catches up from Postgres alone.
      await catchUp(sinceCopyCaughtUp, false);
      copyCaughtUp = started;
      throw error;
    } finally {
      copy.prune(clock.now());
    }
    if (subscribed && !copy.isComplete() && !loads.isRunning() && copyLoadDue()) await loads.run();
    lastSyncStarted = copyCaughtUp = started;
  };

  /**
   * One sync at a time, so that one that outlasts the timer's period (a slow Postgres, a large
   * load) does not pile up beside itself; a call while one runs still sees what was recorded before it.
   */
  const syncs = oneAtATime(() => syncOnce().catch(endedByStop(undefined)));

  return {
    async revoke(tokens) {
      const recorded = await store.record(tokens);
      const recordedJtis = new Set(recorded.map(({ jti }) => jti));
      // Those recorded before are published too, where Redis lacks them: the revocation that
      // recorded them may not have told Redis yet. Its own publish writes over, so Redis ends on
      // its reason, Postgres's, whichever comes first.
      await Promise.all([publish(recorded), publish(tokens.filter(({ jti }) => !recordedJtis.has(jti)), { ifAbsent: true })]);
      return recorded.length;
    },
    publish: (tokens) => publish(tokens),
    async isRevoked(jti) {
      const known = copy.lookup(jti, clock.now());
      if (known !== undefined) return known;
      try {
        const answer = seededSinceConnect ? await cache.isRevoked(jti) : undefined;
        if (answer !== undefined) return answer;
      } catch {
        // Redis unreachable: Postgres answers, as it does while Redis is not known to be seeded.
      }
      try {
        return await store.isRevoked(jti);
      } catch {
        throw temporarilyUnavailable(5, 'revocation state unavailable');
      }
    },
    follow() {
      feed.follow({
        subscribed() {
          subscribed = true;
          if (stopped) return;
          loads.run().catch((error: unknown) => logger.warn({ err: describeError(error) }, 'denylist: loading the in-process copy failed; retrying at the next sync'));
        },
        lost() {
          if (subscribed) logger.warn('denylist: revocation channel lost; checks go to Redis until it is back');
          subscribed = false;
          copy.invalidate();
        },
        revoked: (entries) => copy.add(entries),
        malformed: () => logger.warn('denylist: ignored a malformed message on the revocation channel'),
      });
    },
    copyState: () => ({ complete: copy.isComplete(), size: copy.size() }),
    reseed,
    disconnected: distrustRedis,
    sync: syncs.run,
    stop() {
      stopped = true;
    },
    async settled() {
      // Again while anything runs: a sync that was running may have started a re-seed or a load.
      while (reseedsGoing.size > 0 || syncs.isRunning() || loads.isRunning()) {
        await Promise.all([syncs.settled(), loads.settled(), ...[...reseedsGoing].map((going) => going.catch(() => undefined))]);
      }
    },
    // Kept a margin past exp, for hosts whose clocks run behind this one's (a re-seed, a Postgres check).
    pruneExpired: (stop) => store.pruneExpired(denylistedIfExpiringAfter(now()), stop),
  };
}
