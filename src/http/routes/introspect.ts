import type { RouterInstance } from '@koa/router';
import type { Middleware } from 'koa';
import { isConfidential } from '../../domain/client.js';
import { invalidClient } from '../../errors/oauth-error.js';
import { authenticateClient, type ClientLookup } from '../../flows/client-authentication.js';
import type { Introspect } from '../../flows/introspection.js';
import { readClientCredentials } from '../client-credentials.js';
import { requiredParam, type RequestParams } from '../../domain/request-params.js';

/** `POST /introspect` (RFC 7662), for confidential clients only; `entry` as for tokenRoutes. */
export function introspectRoutes(
  router: RouterInstance,
  { clients, introspect, entry }: { clients: ClientLookup; introspect: Introspect; entry: readonly Middleware[] },
): void {
  router.post('/introspect', ...entry, async (ctx) => {
    const params = ctx.state.params as RequestParams;
    const credentials = readClientCredentials(ctx, params);
    const client = await authenticateClient(clients, credentials);
    if (!isConfidential(client)) {
      throw invalidClient('introspection requires a confidential client', { basicChallenge: credentials.method === 'client_secret_basic' });
    }
    ctx.state.clientId = client.clientId;
    const token = requiredParam(params, 'token');
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    ctx.body = await introspect(token);
  });
}
