import { jest } from '@jest/globals';
import argon2 from 'argon2';
import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

// Watched, not replaced: every hash and verification still runs.
const hashes = jest.spyOn(argon2, 'hash');
const verifications = jest.spyOn(argon2, 'verify');
let server: TestServer;
let seed: Fixtures;
let secret: string;

beforeAll(async () => {
  server = await startTestServer();
  seed = fixtures(server);
  secret = (await seed.addClient({ clientId: 'web', grants: ['password'] }))!;
});
afterAll(async () => {
  hashes.mockRestore();
  verifications.mockRestore();
  await seed.close();
  await server.stop();
});

it('makes the dummy hash before it listens: the first login of an unknown user costs one verification, as a known user\'s does', async () => {
  expect(hashes.mock.calls.map(([password]) => password)).toEqual(['authd dummy password']);
  const answer = await postForm(`${server.baseUrl}/token`, { grant_type: 'password', username: 'nobody', password: 'guess' }, {
    authorization: basicAuth('web', secret),
  });
  expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  expect(hashes).toHaveBeenCalledTimes(1);
  expect(verifications.mock.calls.map(([, password]) => password)).toEqual(['guess']);
});
