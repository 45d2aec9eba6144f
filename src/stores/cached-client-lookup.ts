import type { Clock } from '../clock.js';
import type { Client } from '../domain/client.js';
import { createGenerationalMap } from '../generational-map.js';

export interface ClientFinder {
  find(clientId: string): Promise<Client | undefined>;
}

export interface ClientCacheOptions {
  /** How long a found client is served from memory: the delay before a change reaches this instance. */
  readonly ttlMs: number;
  /** Entries kept at most; the oldest half goes first. Unknown ids are never cached, so they cannot fill it. */
  readonly maxEntries: number;
}

/**
 * Keeps recently used clients in memory for a few seconds. Every token, revocation and
 * introspection request authenticates a client, and the lookup through Prisma costs more CPU
 * than the rest of a client_credentials request together.
 */
export function cachedClientLookup(store: ClientFinder, clock: Clock, { ttlMs, maxEntries }: ClientCacheOptions): ClientFinder {
  const entries = createGenerationalMap<string, { client: Client; expiresAt: number }>(maxEntries);
  return {
    async find(clientId) {
      const now = clock.now();
      const cached = entries.get(clientId);
      if (cached !== undefined && cached.expiresAt > now) return cached.client;
      const client = await store.find(clientId);
      entries.delete(clientId);
      if (client !== undefined) entries.set(clientId, { client, expiresAt: now + ttlMs });
      return client;
    },
  };
}

/**
 * The scopes of all clients, for the public metadata document: at most one query per `ttlMs`,
 * shared by the requests that arrive while it runs, so an unauthenticated endpoint cannot be used
 * to make Postgres scan the clients table on every request. A failed query is not kept.
 */
export function cachedScopesInUse(load: () => Promise<readonly string[]>, clock: Clock, ttlMs: number): () => Promise<readonly string[]> {
  let cached: { readonly scopes: Promise<readonly string[]>; readonly expiresAt: number } | undefined;
  return () => {
    const now = clock.now();
    if (cached === undefined || cached.expiresAt <= now) {
      const entry = { scopes: load(), expiresAt: now + ttlMs };
      cached = entry;
      entry.scopes.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.scopes;
  };
}
