import { isIP, isIPv4, isIPv6 } from 'node:net';

/**
 * The client's address without the port some proxies write after it in X-Forwarded-For
 * (`203.0.113.5:51234`, `[2001:db8::1]:51234`): with the port, each new connection of one client
 * would count its login failures afresh. Anything else, an address or not, is kept as it came.
 */
export function withoutPort(address: string): string {
  if (isIP(address) !== 0) return address;
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(address);
  if (bracketed !== null && isIPv6(bracketed[1]!)) return bracketed[1]!;
  const withPort = /^(.+):\d{1,5}$/.exec(address);
  // An IPv6 address with a port and no brackets is ambiguous: read so only when the whole is no
  // address (`2001:db8::1:51234`); a valid one (`2001:db8::1:80`) stays whole, within its /64.
  if (withPort !== null && (isIPv4(withPort[1]!) || isIPv6(withPort[1]!))) return withPort[1]!;
  return address;
}
