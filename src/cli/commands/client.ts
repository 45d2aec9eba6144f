import { InvalidArgumentError, type Command } from 'commander';
import { generateClientSecret, hashClientSecret } from '../../clients/client-secret.js';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '../../config/config.js';
import { CLIENT_ID_PATTERN, GRANT_TYPES, isAudience, isGrantType, type Client, type GrantType } from '../../domain/client.js';
import { SCOPE_TOKEN } from '../../domain/scope.js';
import { DuplicateError } from '../../stores/errors.js';
import { CliError } from '../context.js';
import { withDataLayer } from '../with-data-layer.js';

interface AddOptions {
  public?: boolean;
  grant: string[];
  scope: string[];
  audience: string[];
  accessTtl?: number;
  name?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

const ttl = (value: string): number => {
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds < 60 || seconds > MAX_ACCESS_TOKEN_TTL_SECONDS) {
    throw new InvalidArgumentError(`must be a whole number of seconds from 60 to ${MAX_ACCESS_TOKEN_TTL_SECONDS}`);
  }
  return seconds;
};

/** What user ids look like (the `sub` of their tokens), in any case. */
const UUID_FORM = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Checks the options and returns the client's grant types. */
function grantTypesOf(clientId: string, options: AddOptions): GrantType[] {
  if (!CLIENT_ID_PATTERN.test(clientId)) throw new CliError('a client_id is 1 to 128 characters of A-Z a-z 0-9 . _ ~ -');
  // A client_credentials token's sub is its client_id, and a user's sub is the user's UUID: a client
  // named like one would get tokens a resource server could take for that user's (RFC 9068 §5).
  if (UUID_FORM.test(clientId)) throw new CliError('a client_id may not have the form of a UUID: users are named so in tokens');
  const unknown = options.grant.find((grant) => !isGrantType(grant));
  if (unknown !== undefined) throw new CliError(`unknown grant ${JSON.stringify(unknown)}; grants are ${GRANT_TYPES.join(', ')}`);
  const badScope = options.scope.find((scope) => !SCOPE_TOKEN.test(scope));
  if (badScope !== undefined) throw new CliError(`invalid scope ${JSON.stringify(badScope)}`);
  const badAudience = options.audience.find((audience) => !isAudience(audience));
  if (badAudience !== undefined) throw new CliError(`invalid audience ${JSON.stringify(badAudience)}`);
  const grants = (options.grant.length > 0 ? options.grant : options.public ? ['password', 'refresh_token'] : ['client_credentials']) as GrantType[];
  if (options.public && grants.includes('client_credentials')) throw new CliError('a public client cannot use client_credentials');
  return [...new Set(grants)];
}

const describeClient = (client: Client) =>
  `${client.clientId}  ${client.secretHash === null ? 'public      ' : 'confidential'}  grants=${client.grantTypes.join(',')}` +
  `  scopes=${client.scopes.join(',') || '-'}  audiences=${client.audiences.join(',') || '-'}` +
  `  access_ttl=${client.accessTokenTtl ?? 'default'}`;

export function registerClientCommands(program: Command): void {
  const client = program.command('client').description('OAuth clients');

  client
    .command('add <client_id>')
    .description('register a client; a confidential client\'s secret is printed once')
    .option('--public', 'a public client (no secret; defaults to grants password and refresh_token)')
    .option('--grant <grant>', `allowed grant type (repeatable): ${GRANT_TYPES.join(', ')}; default client_credentials`, collect, [])
    .option('--scope <scope>', 'allowed scope (repeatable)', collect, [])
    .option('--audience <audience>', 'allowed audience (repeatable; the first is the default)', collect, [])
    .option('--access-ttl <seconds>', `access-token lifetime, 60-${MAX_ACCESS_TOKEN_TTL_SECONDS}`, ttl)
    .option('--name <name>', 'a display name (default: the client_id)')
    .action((clientId: string, options: AddOptions) =>
      withDataLayer(async (data) => {
        const grantTypes = grantTypesOf(clientId, options);
        const secret = options.public ? undefined : generateClientSecret();
        await data.clients
          .create({
            clientId,
            name: options.name ?? clientId,
            secretHash: secret === undefined ? null : hashClientSecret(secret),
            grantTypes,
            scopes: [...new Set(options.scope)],
            audiences: [...new Set(options.audience)],
            accessTokenTtl: options.accessTtl ?? null,
          })
          .catch((error: unknown) => {
            throw error instanceof DuplicateError ? new CliError(error.message) : error;
          });
        process.stdout.write(`client_id: ${clientId}\n${secret === undefined ? '' : `client_secret: ${secret}\n`}`);
      }),
    );

  client
    .command('secret <client_id>')
    .description("replace a confidential client's secret: the new one is printed once, and the old one stops working")
    .action((clientId: string) =>
      withDataLayer(async (data) => {
        const secret = generateClientSecret();
        const replaced = await data.clients.replaceSecret(clientId, hashClientSecret(secret));
        if (replaced === 'missing') throw new CliError(`no client ${JSON.stringify(clientId)}`);
        if (replaced === 'public') throw new CliError(`client ${JSON.stringify(clientId)} is public: it has no secret`);
        data.audit('client_secret_replaced', { client_id: clientId });
        process.stdout.write(`client_id: ${clientId}\nclient_secret: ${secret}\n`);
      }),
    );

  client
    .command('list')
    .description('every client, without secrets')
    .action(() =>
      withDataLayer(async (data) => {
        const clients = await data.clients.list();
        process.stdout.write(clients.length === 0 ? 'no clients\n' : clients.map((c) => `${describeClient(c)}\n`).join(''));
      }),
    );
}
