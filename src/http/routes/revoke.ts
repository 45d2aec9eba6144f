import type { RouterInstance } from '@koa/router';
import type { Middleware } from 'koa';
import { authenticateClient, type ClientLookup } from '../../flows/client-authentication.js';
import type { Revoke } from '../../flows/revocation.js';
import { readClientCredentials } from '../client-credentials.js';
import { requiredParam, type RequestParams } from '../../domain/request-params.js';

/** `POST /revoke` (RFC 7009): 200 with an empty body whether or not the token meant anything; `entry` as for tokenRoutes. */
export function revokeRoutes(router: RouterInstance, { clients, revoke, entry }: { clients: ClientLookup; revoke: Revoke; entry: readonly Middleware[] }): void {
  router.post('/revoke', ...entry, async (ctx) => {
    const params = ctx.state.params as RequestParams;
    const client = await authenticateClient(clients, readClientCredentials(ctx, params));
    ctx.state.clientId = client.clientId;
    const token = requiredParam(params, 'token');
    await revoke(client, token);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 200;
    ctx.body = '';
  });
}
