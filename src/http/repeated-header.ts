import type { IncomingMessage } from 'node:http';

/**
 * Whether the request carries the header `lowerCaseName` more than once. Node keeps the first
 * Authorization or Content-Type it is sent and drops the others without a word, so a request a
 * proxy reads one way (its last value) would be served another.
 */
export function isRepeatedHeader(request: IncomingMessage, lowerCaseName: string): boolean {
  const raw = request.rawHeaders;
  let seen = false;
  for (let at = 0; at < raw.length; at += 2) {
    const name = raw[at]!;
    if (name.length !== lowerCaseName.length || name.toLowerCase() !== lowerCaseName) continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}
