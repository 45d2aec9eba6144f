import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { metricValue } from '../support/metrics.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
/** A second instance of the same deployment (database, Redis, keys). */
let other: TestServer;
let seed: Fixtures;
let secret: string;

// LOGIN_MAX_FAILURES=1: an IP is locked at its 21st failure. The argon2 queue holds every guess
// let through, so none is refused with 503 instead of being tried; the guesses beyond the 21 wait
// for a place for up to 15 s, not 2, so that a loaded machine's slower argon2 does not make them busy.
beforeAll(async () => {
  const options = {
    env: { TRUST_PROXY: 'true', LOGIN_MAX_FAILURES: '1' },
    passwordQueue: { concurrency: 2, maxQueue: 64 },
    loginBusyWaitMs: 15_000,
  };
  server = await startTestServer(options);
  other = await startTestServer({ ...options, alongside: server });
  seed = fixtures(server);
  await seed.addUser('alice', 'correct horse battery');
  secret = (await seed.addClient({ clientId: 'web', grants: ['password'] }))!;
});
afterAll(async () => {
  await seed.close();
  await other.stop();
  await server.stop();
});

const login = (username: string, password: string, ip: string, instance = server) =>
  postForm(`${instance.baseUrl}/token`, { grant_type: 'password', username, password }, { authorization: basicAuth('web', secret), 'x-forwarded-for': ip });

/** The statuses of guesses sent all at once, every other one to the second instance, sorted. */
const statusesAcross = async (usernameOf: (i: number) => string, count: number, ip: string) => {
  const answers = await Promise.all(Array.from({ length: count }, (_, i) => login(usernameOf(i), 'wrong', ip, i % 2 === 0 ? server : other)));
  return answers.map((answer) => answer.status).sort();
};

it('tries only 20 × LOGIN_MAX_FAILURES + 1 of the guesses one IP sprays over many usernames at once, and refuses the rest with its lock', async () => {
  const ip = '203.0.113.90';
  const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => login(`sprayed${i}`, 'wrong', ip)));
  expect(answers.map((answer) => answer.status).sort()).toEqual([...Array(21).fill(400), ...Array(9).fill(429)]);
  for (const answer of answers.filter(({ status }) => status === 429)) {
    expect(answer.body).toEqual({ error: 'too_many_requests' });
    // Each waited for a place while the 21 ran, and met the lock their failures set.
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(800);
  }
  const lines = (event: string) => server.logs.lines.filter((line) => line['event'] === event && line['ip'] === ip);
  expect(lines('login_failed')).toHaveLength(21);
  // Each failure locked its own pair (the limit is 1); the 21st locked the IP too, which then refused the 9.
  const locks = lines('login_locked').map((line) => line['scope']);
  expect(locks.filter((scope) => scope === 'pair')).toHaveLength(21);
  expect(locks.filter((scope) => scope === 'ip')).toHaveLength(10);
  expect(locks).toHaveLength(31);
  expect(await metricValue(server.baseUrl, 'authd_login_refused_total{reason="ip"}')).toBe(9);
  expect(await metricValue(server.baseUrl, 'authd_login_refused_total{reason="busy"}')).toBe(0);

  expect((await login('alice', 'correct horse battery', ip)).status).toBe(429);
  expect((await login('alice', 'correct horse battery', '203.0.113.91')).status).toBe(200);
});

it('counts one IP\'s guesses across instances: of 30 sent at once to two of them, only 21 are tried', async () => {
  expect(await statusesAcross((i) => `across${i}`, 30, '203.0.113.92')).toEqual([...Array(21).fill(400), ...Array(9).fill(429)]);
  expect((await login('alice', 'correct horse battery', '203.0.113.92', other)).status).toBe(429);
});

it('counts one pair\'s guesses across instances: of 10 sent at once to two of them, only LOGIN_MAX_FAILURES are tried', async () => {
  expect(await statusesAcross(() => 'alice', 10, '203.0.113.93')).toEqual([400, ...Array(9).fill(429)]);
  expect((await login('alice', 'correct horse battery', '203.0.113.93', other)).status).toBe(429);
  expect((await login('alice', 'correct horse battery', '203.0.113.94', other)).status).toBe(200);
});
