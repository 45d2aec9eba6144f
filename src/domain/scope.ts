/** OAuth scope tokens (RFC 6749 §3.3): printable ASCII except space, quote and backslash. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Splits a space-delimited scope parameter into distinct tokens, in order. */
export const parseScope = (scope: string): string[] => [...new Set(scope.split(' ').filter((part) => part !== ''))];

export const formatScope = (scopes: readonly string[]): string => scopes.join(' ');
