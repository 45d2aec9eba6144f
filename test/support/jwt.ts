/** The claims of a JWT, decoded without verification (tests only). */
export const claimsOf = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

export const jtiOf = (jwt: string): string => claimsOf(jwt)['jti'] as string;
