import { connectDatabase, type DatabaseConnections } from '../../src/stores/database.js';
import { DuplicateError, NotFoundError } from '../../src/stores/errors.js';
import { createUserStore, type UserStore } from '../../src/stores/user-store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let testDb: TestDatabase;
let connections: DatabaseConnections;
let users: UserStore;

beforeAll(async () => {
  testDb = await createTestDatabase();
  connections = connectDatabase(testDb.url, { poolSize: 2 });
  users = createUserStore(connections.db, connections.sql);
});
afterAll(async () => {
  await connections.close();
  await testDb.drop();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('user store', () => {
  it('creates a user and reads every field back by username in any case', async () => {
    const created = await users.create({ username: 'Alice', passwordHash: '$argon2id$alice-1', roles: ['admin', 'ops'] });
    expect(created).toEqual({ id: expect.stringMatching(UUID), username: 'Alice', passwordHash: '$argon2id$alice-1', roles: ['admin', 'ops'], disabled: false });
    expect(await users.findByUsername('alice')).toEqual(created);
    expect(await users.findByUsername('ALICE')).toEqual(created);
    const [row] = await testDb.query('SELECT username, username_normalized FROM users WHERE id = $1', [created.id]);
    expect(row).toEqual({ username: 'Alice', username_normalized: 'alice' });
  });

  it('returns plain domain objects, not Prisma rows', async () => {
    const user = await users.findByUsername('alice');
    expect(Object.keys(user!).sort()).toEqual(['disabled', 'id', 'passwordHash', 'roles', 'username']);
  });

  it('refuses a username that differs only in case', async () => {
    const attempt = users.create({ username: 'alice', passwordHash: 'x', roles: [] });
    await expect(attempt).rejects.toBeInstanceOf(DuplicateError);
    await expect(attempt).rejects.toThrow('user "alice" already exists');
    expect(await testDb.query("SELECT 1 FROM users WHERE username_normalized = 'alice'")).toHaveLength(1);
  });

  it('finds nothing for an unknown username', async () => {
    expect(await users.findByUsername('nobody')).toBeUndefined();
  });

  it('updatePasswordHash with ifCurrent changes the hash only while it is still the expected one', async () => {
    const { id } = (await users.create({ username: 'bob', passwordHash: 'h1', roles: [] }));
    expect(await users.updatePasswordHash(id, 'h2', { ifCurrent: 'h1' })).toBe(true);
    expect((await users.findByUsername('bob'))!.passwordHash).toBe('h2');
    // A password changed meanwhile: the stale re-hash must not overwrite it.
    await users.setPassword('bob', 'changed');
    expect(await users.updatePasswordHash(id, 'rehash-of-old', { ifCurrent: 'h2' })).toBe(false);
    expect((await users.findByUsername('bob'))!.passwordHash).toBe('changed');
  });

  it('setPassword finds the user case-insensitively and returns it; an unknown user is NotFoundError', async () => {
    expect(await users.setPassword('BOB', 'h5')).toMatchObject({ username: 'bob', passwordHash: 'h5' });
    await expect(users.setPassword('nobody', 'x')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('disable marks the user disabled and returns it; an unknown user is NotFoundError', async () => {
    const disabled = await users.disable('Bob');
    expect(disabled).toMatchObject({ username: 'bob', disabled: true });
    expect((await users.findByUsername('bob'))!.disabled).toBe(true);
    expect((await users.findByUsername('alice'))!.disabled).toBe(false);
    await expect(users.disable('nobody')).rejects.toThrow(new NotFoundError('no user "nobody"'));
  });
});
