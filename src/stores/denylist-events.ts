import type { RevokedEntry } from '../flows/revoked-set.js';
import type { Redis } from './redis.js';

/**
 * Every revocation is published here (after Postgres has it) so instances keep in-process copies.
 * Channels are not scoped by database index, so the index is part of the name: deployments that
 * share a Redis server on different indexes do not hear each other.
 */
export const revocationChannel = (redis: Redis): string => `authd:denylist:revocations:${redis.options.db ?? 0}`;

const MAX_JTI_LENGTH = 256;

/** A message on the channel: `[[jti, exp seconds], …]`. */
export const encodeRevocations = (entries: readonly RevokedEntry[]): string =>
  JSON.stringify(entries.map(({ jti, expiresAt }) => [jti, Math.ceil(expiresAt.getTime() / 1000)]));

/** The entries of a message, or undefined when it is not one of ours. */
export function decodeRevocations(message: string): RevokedEntry[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  const entries: RevokedEntry[] = [];
  for (const item of value) {
    if (!Array.isArray(item) || item.length !== 2) return undefined;
    const [jti, exp] = item as [unknown, unknown];
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) return undefined;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return undefined;
    entries.push({ jti, expiresAt: new Date(exp * 1000) });
  }
  return entries;
}

export interface RevocationFeedHandlers {
  /** Redis confirmed the subscription: every revocation published from now on will arrive. */
  subscribed(): void;
  /** The subscription is gone; messages may be missed until the next `subscribed`. */
  lost(): void;
  revoked(entries: RevokedEntry[]): void;
  /** A message that is not a list of revocations (someone else wrote to the channel). */
  malformed(): void;
}

/** The receiving side of the channel, on a Redis connection of its own (subscriber mode). */
export interface RevocationFeed {
  follow(handlers: RevocationFeedHandlers): void;
  close(): Promise<void>;
}

export function createRevocationFeed(redis: Redis): RevocationFeed {
  let subscriber: Redis | undefined;
  return {
    follow(handlers) {
      if (subscriber !== undefined) return;
      const channel = revocationChannel(redis);
      // Subscribing by hand on every 'ready': ioredis's own resubscription is sent after 'ready',
      // so it cannot tell when the subscription is confirmed.
      const connection = redis.duplicate({ autoResubscribe: false });
      subscriber = connection;
      connection.on('error', () => undefined); // the main connection reports Redis errors
      // A SUBSCRIBE the link dropped unanswered is not sent again (see createRedis): it fails by
      // its timeout, later, when another link may hold the subscription; only the link it was
      // sent on is started over.
      let links = 0;
      connection.on('ready', () => {
        const link = links;
        connection.subscribe(channel).then(
          () => {
            if (link === links) handlers.subscribed();
          },
          () => {
            if (link === links) connection.disconnect(true);
          },
        );
      });
      connection.on('close', () => {
        links += 1;
        if (subscriber === connection) handlers.lost(); // not when close() ended it on purpose
      });
      connection.on('message', (from: string, message: string) => {
        if (from !== channel) return;
        const entries = decodeRevocations(message);
        if (entries === undefined) handlers.malformed();
        else handlers.revoked(entries);
      });
    },
    async close() {
      const connection = subscriber;
      subscriber = undefined;
      if (connection !== undefined) await connection.quit().catch(() => connection.disconnect());
    },
  };
}
