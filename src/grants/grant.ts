import type { Client, GrantType } from '../domain/client.js';
import type { RequestParams } from '../domain/request-params.js';

/** A token request after client authentication, as a grant handler sees it. */
export interface TokenRequest {
  readonly params: RequestParams;
  readonly client: Client;
  /** The client's IP address (from X-Forwarded-For only when TRUST_PROXY is on). */
  readonly ip: string;
  readonly requestId: string;
  /** Fires when the client disconnects before its answer is sent. */
  readonly abandoned: AbortSignal;
}

/** RFC 6749 §5.1 success body. */
export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly refresh_token?: string;
  readonly scope?: string;
}

/** One grant type: what it is called and how it turns a request into tokens. */
export interface Grant {
  readonly grantType: GrantType;
  handle(request: TokenRequest): Promise<TokenResponse>;
}
