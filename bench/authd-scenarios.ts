import { VERIFIED_CACHE_ENTRIES } from '../src/tokens/access-token-verifier.js';
import type { RequestTemplate } from './load.js';

/** What the scenarios need from the seeded server. */
export interface AuthdTarget {
  readonly baseUrl: string;
  readonly basic: { readonly cc: string; readonly web: string; readonly rs: string };
  /** Users with `password`, to log in as in turn. */
  readonly usernames: readonly string[];
  readonly password: string;
  readonly connections: number;
  /** Live, unspent refresh tokens of `bench-web`, one per rotation. */
  readonly refreshTokens: string[];
  /** A new access token of `bench-cc`, signed with authd's key as authd would sign it. */
  readonly mintAccessToken: () => Promise<string>;
  /** How many requests a row that spends a token on each may send at most (the refresh tokens seeded are as many). */
  readonly spendableRequests: number;
}

export interface Scenario {
  readonly name: string;
  /** Builds the request templates (may issue tokens first). */
  requests(target: AuthdTarget): Promise<RequestTemplate[]>;
  /**
   * Rows whose requests take long need a longer window than `--quick` gives to count them fairly:
   * the row runs at least this many seconds, and windows of it at least this long.
   */
  readonly minSeconds?: number;
  /** The ceiling the row is compared with, measured after its warm-up and after each of its windows. */
  readonly ceiling?: 'argon2';
  /** The peer rows it is compared with: every authd row of one comparison is measured in turns with them. */
  readonly comparedWith?: Comparison;
}

/** The comparisons with a peer server: oidc-provider's rows, and bare koa's with the JWKS. */
export type Comparison = 'client_credentials' | 'introspection' | 'jwks';

const form = (authorization: string) => ({ 'content-type': 'application/x-www-form-urlencoded', authorization });

async function post(target: AuthdTarget, path: string, authorization: string, body: Record<string, string>): Promise<Record<string, string>> {
  const response = await fetch(`${target.baseUrl}${path}`, { method: 'POST', headers: form(authorization), body: new URLSearchParams(body) });
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Record<string, string>;
}

const accessToken = async (target: AuthdTarget) => (await post(target, '/token', target.basic.cc, { grant_type: 'client_credentials' }))['access_token']!;

/** Twice the verifier's cache: cycling through them in order, no request finds its token cached. */
const DISTINCT_TOKENS = 2 * VERIFIED_CACHE_ENTRIES;

/** A POST that sends the next of `tokens` as `token` on every request, starting over at the end. */
function tokenInTurn(path: string, authorization: string, tokens: readonly string[]): RequestTemplate {
  let next = 0;
  return {
    method: 'POST',
    path,
    headers: form(authorization),
    setupRequest: (request) => ({ ...request, body: `token=${tokens[next++ % tokens.length]}` }),
  } as RequestTemplate;
}

/** authd's endpoints; a new endpoint is one more entry. */
export const authdScenarios: Scenario[] = [
  {
    name: 'client_credentials',
    comparedWith: 'client_credentials',
    requests: async ({ basic }) => [{ method: 'POST', path: '/token', headers: form(basic.cc), body: 'grant_type=client_credentials' }],
  },
  {
    name: 'password grant',
    ceiling: 'argon2',
    // ~0.6–0.9 s per login at 20 connections: a 2 s window would count only a few per connection.
    minSeconds: 5,
    requests: async ({ basic, usernames, password }) => {
      const bodies = usernames.map((username) => new URLSearchParams({ grant_type: 'password', username, password }).toString());
      let next = 0;
      return [
        {
          method: 'POST',
          path: '/token',
          headers: form(basic.web),
          setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
        } as RequestTemplate,
      ];
    },
  },
  {
    name: 'refresh (rotation)',
    requests: async ({ basic, refreshTokens }) => [
      {
        method: 'POST',
        path: '/token/refresh',
        headers: form(basic.web),
        setupRequest: (request) => ({ ...request, body: `refresh_token=${refreshTokens.pop() ?? 'exhausted'}` }),
      } as RequestTemplate,
    ],
  },
  {
    name: 'introspection',
    comparedWith: 'introspection',
    requests: async (target) => {
      const token = await accessToken(target);
      return [{ method: 'POST', path: '/introspect', headers: form(target.basic.rs), body: `token=${token}` }];
    },
  },
  {
    // Each request a token the server has not verified yet (more tokens than its verification cache holds, cycled).
    name: 'introspection (distinct tokens)',
    comparedWith: 'introspection',
    requests: async (target) => [tokenInTurn('/introspect', target.basic.rs, await Promise.all(Array.from({ length: DISTINCT_TOKENS }, target.mintAccessToken)))],
  },
  {
    // Each request a token not revoked before: one revoked already changes nothing, and costs far less.
    name: 'revocation',
    requests: async (target) => [tokenInTurn('/revoke', target.basic.cc, await Promise.all(Array.from({ length: target.spendableRequests }, target.mintAccessToken)))],
  },
  {
    name: 'jwks',
    comparedWith: 'jwks',
    requests: async () => [{ method: 'GET', path: '/.well-known/jwks.json' }],
  },
  {
    name: 'jwks (If-None-Match)',
    comparedWith: 'jwks',
    requests: async ({ baseUrl }) => {
      const etag = (await fetch(`${baseUrl}/.well-known/jwks.json`)).headers.get('etag')!;
      return [{ method: 'GET', path: '/.well-known/jwks.json', headers: { 'if-none-match': etag } }];
    },
  },
];
