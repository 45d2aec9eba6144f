import { isGrantType, type Client } from '../domain/client.js';
import type { Client as ClientRow } from '../generated/prisma/client.js';
import type { Database } from './database.js';
import { DuplicateError } from './errors.js';
import { isUniqueViolation } from './prisma-errors.js';

export type NewClient = Omit<Client, 'createdAt'>;

export interface ClientStore {
  find(clientId: string): Promise<Client | undefined>;
  create(client: NewClient): Promise<Client>;
  list(): Promise<Client[]>;
  /** Every scope any client is allowed, sorted, for discovery metadata. */
  scopesInUse(): Promise<string[]>;
}

export function createClientStore(db: Database): ClientStore {
  return {
    async find(clientId) {
      const row = await db.client.findUnique({ where: { clientId } });
      return row === null ? undefined : toClient(row);
    },
    async create(client) {
      try {
        return toClient(
          await db.client.create({
            data: {
              ...client,
              grantTypes: [...client.grantTypes],
              scopes: [...client.scopes],
              audiences: [...client.audiences],
            },
          }),
        );
      } catch (error) {
        if (isUniqueViolation(error)) throw new DuplicateError(`client "${client.clientId}" already exists`);
        throw error;
      }
    },
    async list() {
      return (await db.client.findMany({ orderBy: { clientId: 'asc' } })).map(toClient);
    },
    async scopesInUse() {
      const rows = await db.$queryRaw<{ scope: string }[]>`SELECT DISTINCT unnest(scopes) AS scope FROM clients ORDER BY scope`;
      return rows.map((row) => row.scope);
    },
  };
}

const toClient = (row: ClientRow): Client => ({
  clientId: row.clientId,
  name: row.name,
  secretHash: row.secretHash,
  grantTypes: row.grantTypes.filter(isGrantType),
  scopes: row.scopes,
  audiences: row.audiences,
  accessTokenTtl: row.accessTokenTtl,
  createdAt: row.createdAt,
});
