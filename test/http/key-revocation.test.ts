import { createKeyring } from '../../src/keys/keyring.js';
import { basicAuth, fixtures, postForm, type Fixtures } from '../support/fixtures.js';
import { captureLogs } from '../support/logs.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let seed: Fixtures;
let svc: { authorization: string };

beforeAll(async () => {
  server = await startTestServer();
  seed = fixtures(server);
  svc = { authorization: basicAuth('svc', (await seed.addClient({ clientId: 'svc' }))!) };
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

const issue = async () => (await postForm(`${server.baseUrl}/token`, { grant_type: 'client_credentials' }, svc)).body['access_token'] as string;
const introspect = async (token: string) => (await postForm(`${server.baseUrl}/introspect`, { token }, svc)).body;
const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
const publishedKids = async () => ((await (await fetch(`${server.baseUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map(({ kid }) => kid);

it('drops a revoked signing key at once: its tokens introspect inactive, the JWKS leaves it out, new tokens use a new key', async () => {
  const before = await issue();
  const kid = kidOf(before);
  expect(await introspect(before)).toMatchObject({ active: true });
  expect(await publishedKids()).toEqual([kid]);

  // `authd keys revoke <kid>` on another process, then the reload every instance does (60 s or SIGHUP).
  const operator = createKeyring({ dir: server.keysDir, clock: { now: () => Date.now() }, logger: captureLogs().logger, rotationInterval: 0 });
  await operator.load();
  const { replacement } = await operator.revoke(kid);
  await server.running.reloadKeys();

  expect(await introspect(before)).toEqual({ active: false });
  expect(await publishedKids()).toEqual([replacement!.kid]);
  const after = await issue();
  expect(kidOf(after)).toBe(replacement!.kid);
  expect(await introspect(after)).toMatchObject({ active: true });
  // Revoking a token of the revoked key changes nothing: it is not valid any more.
  expect((await postForm(`${server.baseUrl}/revoke`, { token: before }, svc)).status).toBe(200);
  expect(await server.db.query('SELECT jti FROM revocations')).toEqual([]);
});
