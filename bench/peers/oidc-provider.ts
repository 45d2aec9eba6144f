// oidc-provider configured for the work authd does: a confidential client with client_credentials,
// ES256 JWT access tokens through a resource indicator, its JWKS and its introspection. It cannot
// introspect JWT access tokens, so introspection is measured on opaque tokens of a second resource.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const audience = 'https://api.example.test';
const opaqueAudience = 'https://opaque.example.test';
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', alg: 'ES256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'bench',
      client_secret: process.env.CLIENT_SECRET ?? 'bench-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'read',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [jwk] },
  scopes: ['read'],
  ttl: { ClientCredentials: 900 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx: unknown, resource: string) =>
        resource === opaqueAudience
          ? { scope: 'read', audience: opaqueAudience, accessTokenFormat: 'opaque' }
          : { scope: 'read', audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
    },
  },
});

const server = provider.listen(port, () => process.send?.('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
