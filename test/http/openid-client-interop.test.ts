import { createRemoteJWKSet, customFetch as joseFetch, jwtVerify } from 'jose';
import * as oauth from 'openid-client';
import { fixtures, type Fixtures } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

// authd as a third-party client library meets it: openid-client discovers it from its metadata and
// speaks to every endpoint; jose verifies its access tokens against the published key set. The
// issuer is an https URL, as in production; requests for it are sent to the test server.
const ISSUER = 'https://auth.example.test';
const API = 'https://api.example.test';

let server: TestServer;
let seed: Fixtures;
let aliceId: string;
const secrets: Record<string, string> = {};

const toTestServer = (url: string, options: RequestInit) => fetch(url.replace(ISSUER, server.baseUrl), options);

beforeAll(async () => {
  server = await startTestServer({ env: { ISSUER } });
  seed = fixtures(server);
  aliceId = (await seed.addUser('alice', 'pw-alice', { roles: ['reader'] })).id;
  secrets['web'] = (await seed.addClient({ clientId: 'web', grants: ['password', 'refresh_token'], scopes: ['read', 'write'], audiences: [API] }))!;
  secrets['svc'] = (await seed.addClient({ clientId: 'svc', scopes: ['read'], audiences: [API] }))!;
  secrets['rs'] = (await seed.addClient({ clientId: 'rs' }))!;
  await seed.addClient({ clientId: 'spa', public: true, scopes: ['read'], audiences: [API] });
});
afterAll(async () => {
  await seed.close();
  await server.stop();
});

const discover = (clientId: string, auth: oauth.ClientAuth, algorithm: 'oauth2' | 'oidc' = 'oauth2') =>
  oauth.discovery(new URL(ISSUER), clientId, undefined, auth, { algorithm, [oauth.customFetch]: toTestServer });

const verifyAccessToken = async (config: oauth.Configuration, token: string) => {
  const keys = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!), { [joseFetch]: toTestServer });
  return jwtVerify(token, keys, { issuer: ISSUER, audience: API, typ: 'at+jwt', algorithms: ['ES256'] });
};

/** The OAuth error openid-client raised, as `{status, error}`. */
const oauthError = async (attempt: Promise<unknown>) => {
  const error = await attempt.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (error instanceof oauth.ResponseBodyError) return { status: error.status, error: error.error };
  if (error instanceof oauth.WWWAuthenticateChallengeError) return { status: error.status, challenge: error.cause[0]?.scheme };
  throw new Error(`expected an OAuth error response, got ${String(error)}`);
};

describe('openid-client against authd', () => {
  it.each(['oauth2', 'oidc'] as const)('discovers every endpoint from the %s metadata URL', async (algorithm) => {
    const metadata = (await discover('svc', oauth.ClientSecretBasic(secrets['svc']!), algorithm)).serverMetadata();
    expect(metadata).toMatchObject({
      issuer: ISSUER,
      token_endpoint: `${ISSUER}/token`,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      revocation_endpoint: `${ISSUER}/revoke`,
      introspection_endpoint: `${ISSUER}/introspect`,
    });
  });

  it('client_credentials with client_secret_basic: a Bearer token that jose verifies with the JWKS', async () => {
    const config = await discover('svc', oauth.ClientSecretBasic(secrets['svc']!));
    const tokens = await oauth.clientCredentialsGrant(config, { scope: 'read', resource: API });
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read' });
    expect(tokens.refresh_token).toBeUndefined();
    const { payload, protectedHeader } = await verifyAccessToken(config, tokens.access_token);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    expect(payload).toMatchObject({ iss: ISSUER, sub: 'svc', aud: API, client_id: 'svc', scope: 'read' });
    expect(payload.exp! - payload.iat!).toBe(tokens.expires_in);
  });

  it('client_credentials with client_secret_post', async () => {
    const config = await discover('svc', oauth.ClientSecretPost(secrets['svc']!));
    const tokens = await oauth.clientCredentialsGrant(config);
    expect((await verifyAccessToken(config, tokens.access_token)).payload).toMatchObject({ client_id: 'svc', scope: 'read' });
  });

  it('password grant, rotation, and reuse of the spent refresh token', async () => {
    const config = await discover('web', oauth.ClientSecretBasic(secrets['web']!));
    const first = await oauth.genericGrantRequest(config, 'password', { username: 'alice', password: 'pw-alice', scope: 'read' });
    expect(first).toMatchObject({ token_type: 'bearer', scope: 'read' });
    expect((await verifyAccessToken(config, first.access_token)).payload).toMatchObject({ sub: aliceId, roles: ['reader'], scope: 'read' });

    const second = await oauth.refreshTokenGrant(config, first.refresh_token!);
    expect(second.refresh_token).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await verifyAccessToken(config, second.access_token)).payload).toMatchObject({ sub: aliceId, scope: 'read' });

    expect(await oauthError(oauth.refreshTokenGrant(config, first.refresh_token!))).toEqual({ status: 400, error: 'invalid_grant' });
    // Reuse revoked the family: the successor is dead too.
    expect(await oauthError(oauth.refreshTokenGrant(config, second.refresh_token!))).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('a public client logs in with its client_id alone', async () => {
    const config = await discover('spa', oauth.None());
    const tokens = await oauth.genericGrantRequest(config, 'password', { username: 'alice', password: 'pw-alice' });
    expect((await verifyAccessToken(config, tokens.access_token)).payload).toMatchObject({ client_id: 'spa', scope: 'read' });
    expect((await oauth.refreshTokenGrant(config, tokens.refresh_token!)).token_type).toBe('bearer');
  });

  it('introspection and revocation, as a resource server and the token’s client use them', async () => {
    const web = await discover('web', oauth.ClientSecretBasic(secrets['web']!));
    const resourceServer = await discover('rs', oauth.ClientSecretBasic(secrets['rs']!));
    const tokens = await oauth.genericGrantRequest(web, 'password', { username: 'alice', password: 'pw-alice' });

    const access = await oauth.tokenIntrospection(resourceServer, tokens.access_token);
    expect(access).toMatchObject({ active: true, token_type: 'access_token', client_id: 'web', aud: API, scope: 'read write' });
    const refresh = await oauth.tokenIntrospection(resourceServer, tokens.refresh_token!);
    expect(refresh).toMatchObject({ active: true, token_type: 'refresh_token', client_id: 'web', scope: 'read write' });

    await oauth.tokenRevocation(web, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
    expect(await oauth.tokenIntrospection(resourceServer, tokens.refresh_token!)).toEqual({ active: false });
    // Revoking the session put its access token on the denylist.
    expect(await oauth.tokenIntrospection(resourceServer, tokens.access_token)).toEqual({ active: false });
    expect(await server.redis.client.get(`authd:revoked:${(await verifyAccessToken(web, tokens.access_token)).payload.jti!}`)).toBe('family_revoked');
  });

  it('errors reach the client as RFC 6749 error responses', async () => {
    const wrongSecret = await discover('svc', oauth.ClientSecretBasic('not-the-secret'));
    expect(await oauthError(oauth.clientCredentialsGrant(wrongSecret))).toEqual({ status: 401, challenge: 'basic' });
    const wrongPost = await discover('svc', oauth.ClientSecretPost('not-the-secret'));
    expect(await oauthError(oauth.clientCredentialsGrant(wrongPost))).toEqual({ status: 401, error: 'invalid_client' });

    const web = await discover('web', oauth.ClientSecretBasic(secrets['web']!));
    expect(await oauthError(oauth.genericGrantRequest(web, 'password', { username: 'alice', password: 'wrong' }))).toEqual({
      status: 400,
      error: 'invalid_grant',
    });
    expect(await oauthError(oauth.clientCredentialsGrant(web))).toEqual({ status: 400, error: 'unauthorized_client' });
    expect(await oauthError(oauth.genericGrantRequest(web, 'password', { username: 'alice', password: 'pw-alice', scope: 'admin' }))).toEqual({
      status: 400,
      error: 'invalid_scope',
    });
    expect(await oauthError(oauth.genericGrantRequest(web, 'password', { username: 'alice', password: 'pw-alice', resource: 'https://other.example.test' }))).toEqual({
      status: 400,
      error: 'invalid_target',
    });
  });
});
