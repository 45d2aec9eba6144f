import { clientSecretMatches } from '../clients/client-secret.js';
import { CLIENT_ID_PATTERN, isConfidential, type Client } from '../domain/client.js';
import { invalidClient } from '../errors/oauth-error.js';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export interface ClientCredentials {
  readonly clientId: string;
  readonly secret?: string;
  readonly method: ClientAuthMethod;
}

export interface ClientLookup {
  find(clientId: string): Promise<Client | undefined>;
}

/**
 * Authenticates a client: a confidential client must present its secret (compared in constant
 * time on SHA-256 digests); a public client must present none. Every failure is the same
 * `invalid_client`, with a Basic challenge when Basic was used.
 */
export async function authenticateClient(clients: ClientLookup, credentials: ClientCredentials): Promise<Client> {
  const fail = () => invalidClient('client authentication failed', { basicChallenge: credentials.method === 'client_secret_basic' });
  // No client can have another id (the CLI enforces the pattern), and Postgres refuses some bytes (NUL) outright.
  const client = CLIENT_ID_PATTERN.test(credentials.clientId) ? await clients.find(credentials.clientId) : undefined;
  if (client === undefined) throw fail();
  if (isConfidential(client)) {
    if (credentials.secret === undefined || !clientSecretMatches(credentials.secret, client.secretHash!)) throw fail();
  } else if (credentials.secret !== undefined) {
    throw fail();
  }
  return client;
}
