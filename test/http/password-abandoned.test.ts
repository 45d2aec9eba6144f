import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let seed: Fixtures;
let secret: string;

beforeAll(async () => {
  // One worker and a slow hash, so that queued logins can be abandoned while the first one runs.
  server = await startTestServer({
    env: { ARGON2_MEMORY_KIB: '65536', ARGON2_TIME_COST: '8', LOGIN_MAX_FAILURES: '1000' },
    passwordQueue: { concurrency: 1, maxQueue: 8 },
  });
  seed = fixtures(server);
  secret = (await seed.addClient({ clientId: 'web', grants: ['password'] }))!;
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

const metric = async (name: string) => {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
};
const eventually = async (condition: () => Promise<boolean>) => {
  for (let attempt = 0; attempt < 400; attempt += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition not met within 4 s');
};

it('drops queued password checks of clients that disconnected, and still answers the others', async () => {
  const login = (username: string, signal?: AbortSignal) =>
    postForm(`${server.baseUrl}/token`, { grant_type: 'password', username, password: 'x' }, { authorization: basicAuth('web', secret) }, signal);
  // The dummy hash for unknown users is made on first use; make it now, so that below every
  // login is exactly one queued job.
  expect(await login('warm-up')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  const first = login('first');
  const gone = [new AbortController(), new AbortController(), new AbortController()];
  const abandoned = gone.map((controller, index) => login(`gone${index}`, controller.signal).catch((error: unknown) => error));
  // One of the four runs (the requests race to the server), three wait.
  await eventually(async () => (await metric('authd_argon2_queue_depth')) === 3);
  for (const controller of gone) controller.abort();
  for (const outcome of await Promise.all(abandoned)) expect(outcome).toMatchObject({ name: 'AbortError' });

  expect(await first).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  await eventually(async () => (await metric('authd_argon2_queue_depth')) === 0);
  // All three waiting jobs of gone clients were dropped; the running one, if it was theirs, finished.
  const dropped = await metric('authd_argon2_abandoned_total');
  expect([2, 3]).toContain(dropped);
  expect(await login('after')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  expect(await metric('authd_argon2_abandoned_total')).toBe(dropped);
});
