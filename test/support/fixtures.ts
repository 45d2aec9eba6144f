import argon2 from 'argon2';
import { hashClientSecret, generateClientSecret } from '../../src/clients/client-secret.js';
import type { GrantType } from '../../src/domain/client.js';
import type { User } from '../../src/domain/user.js';
import { createClientStore } from '../../src/stores/client-store.js';
import { connectDatabase, type Database } from '../../src/stores/database.js';
import { createUserStore } from '../../src/stores/user-store.js';
import type { TestServer } from './server.js';

export interface ClientSpec {
  readonly clientId: string;
  readonly public?: boolean;
  readonly grants?: readonly GrantType[];
  readonly scopes?: readonly string[];
  readonly audiences?: readonly string[];
  readonly accessTokenTtl?: number;
}

export interface Fixtures {
  readonly db: Database;
  addUser(username: string, password: string, options?: { roles?: string[]; cost?: { memoryCost: number; timeCost: number } }): Promise<User>;
  /** Returns the client's generated secret (undefined for a public client). */
  addClient(spec: ClientSpec): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Seeds users and clients through the real stores of the server's database. */
export function fixtures(server: TestServer): Fixtures {
  const { db, sql, close } = connectDatabase(server.db.url, { poolSize: 2 });
  const users = createUserStore(db, sql);
  const clients = createClientStore(db, sql);
  return {
    db,
    async addUser(username, password, options = {}) {
      const cost = options.cost ?? { memoryCost: server.config.argon2.memoryCost, timeCost: server.config.argon2.timeCost };
      const passwordHash = await argon2.hash(password, { type: argon2.argon2id, parallelism: 1, ...cost });
      return users.create({ username, passwordHash, roles: options.roles ?? [] });
    },
    async addClient(spec) {
      const secret = spec.public ? undefined : generateClientSecret();
      await clients.create({
        clientId: spec.clientId,
        name: spec.clientId,
        secretHash: secret === undefined ? null : hashClientSecret(secret),
        grantTypes: [...(spec.grants ?? (spec.public ? ['password', 'refresh_token'] : ['client_credentials']))],
        scopes: [...(spec.scopes ?? [])],
        audiences: [...(spec.audiences ?? [])],
        accessTokenTtl: spec.accessTokenTtl ?? null,
      });
      return secret;
    },
    close,
  };
}

/** POSTs a form body; returns status, headers and the parsed JSON (or text) body. */
export async function postForm(url: string, params: Record<string, string>, headers: Record<string, string> = {}, signal?: AbortSignal) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
    ...(signal === undefined ? {} : { signal }),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: body as Record<string, unknown> };
}

export const basicAuth = (clientId: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
