import { createClientStore, type ClientStore, type NewClient } from '../../src/stores/client-store.js';
import { connectDatabase, type DatabaseConnections } from '../../src/stores/database.js';
import { DuplicateError } from '../../src/stores/errors.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let testDb: TestDatabase;
let connections: DatabaseConnections;
let clients: ClientStore;

beforeAll(async () => {
  testDb = await createTestDatabase();
  connections = connectDatabase(testDb.url, { poolSize: 2 });
  clients = createClientStore(connections.db, connections.sql);
});
afterAll(async () => {
  await connections.close();
  await testDb.drop();
});

const billing: NewClient = {
  clientId: 'billing',
  name: 'Billing service',
  secretHash: 'a'.repeat(64),
  grantTypes: ['client_credentials'],
  scopes: ['invoices:write', 'invoices:read'],
  audiences: ['https://api.example.test', 'https://other.example.test'],
  accessTokenTtl: 600,
};
const spa: NewClient = {
  clientId: 'spa',
  name: 'Single-page app',
  secretHash: null,
  grantTypes: ['password', 'refresh_token'],
  scopes: ['profile', 'invoices:read'],
  audiences: [],
  accessTokenTtl: null,
};

describe('client store', () => {
  it('starts with no clients and no scopes', async () => {
    expect(await clients.list()).toEqual([]);
    expect(await clients.scopesInUse()).toEqual([]);
  });

  it('creates clients and reads every field back', async () => {
    const created = await clients.create(billing);
    expect(created).toEqual({ ...billing, createdAt: expect.any(Date) });
    expect(await clients.find('billing')).toEqual(created);
    await clients.create(spa);
    expect(await clients.find('spa')).toEqual({ ...spa, createdAt: expect.any(Date) });
  });

  it('keeps array order (the first audience is the default)', async () => {
    expect((await clients.find('billing'))!.audiences).toEqual(['https://api.example.test', 'https://other.example.test']);
  });

  it('finds nothing for an unknown client_id; client ids are case-sensitive', async () => {
    expect(await clients.find('nobody')).toBeUndefined();
    expect(await clients.find('SPA')).toBeUndefined();
  });

  it('refuses a taken client_id with DuplicateError', async () => {
    const attempt = clients.create({ ...spa, clientId: 'billing' });
    await expect(attempt).rejects.toBeInstanceOf(DuplicateError);
    await expect(attempt).rejects.toThrow('client "billing" already exists');
    expect((await clients.find('billing'))!.secretHash).toBe(billing.secretHash);
  });

  it('lists clients ordered by client_id', async () => {
    await clients.create({ ...spa, clientId: 'admin-cli', name: 'admin', scopes: [] });
    expect((await clients.list()).map((client) => client.clientId)).toEqual(['admin-cli', 'billing', 'spa']);
  });

  it('drops grant types it does not know from a row rather than returning them', async () => {
    await testDb.query(`INSERT INTO clients (client_id, name, grant_types, updated_at) VALUES ('legacy', 'legacy', '{implicit,password}', now())`);
    expect((await clients.find('legacy'))!.grantTypes).toEqual(['password']);
  });

  it('reads NULL list columns (a row written outside authd) as empty lists', async () => {
    await testDb.query(`INSERT INTO clients (client_id, name, grant_types, scopes, audiences, updated_at) VALUES ('nulls', 'nulls', NULL, NULL, NULL, now())`);
    expect(await clients.find('nulls')).toMatchObject({ grantTypes: [], scopes: [], audiences: [] });
    await testDb.query(`DELETE FROM clients WHERE client_id = 'nulls'`);
  });

  it('scopesInUse lists every allowed scope once, sorted', async () => {
    expect(await clients.scopesInUse()).toEqual(['invoices:read', 'invoices:write', 'profile']);
  });
});
