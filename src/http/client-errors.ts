import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

/** The route and method a request node could not parse (or that took too long to arrive) is counted under. */
export const UNPARSED_ROUTE = 'unparsed';
export const UNKNOWN_METHOD = 'unknown';

/** What node answers each parser or timeout error with; anything else is 400. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/** A parser's or timeout's error code: only a known shape of it, never its message or the bytes it quotes. */
const codeOf = (error: Error): string => {
  const { code } = error as { code?: unknown };
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'unknown';
};

/** A connection as node's HTTP server keeps it: `_httpMessage` is the answer it is writing there, if any. */
type ServerSocket = Socket & { _httpMessage?: ServerResponse | null };

/**
 * The server's 'clientError' listener: node's own answer (400, 408, 413 or 431, then the
 * connection closed), sent as node's default listener sends it, and also logged and counted,
 * which node's is not: a flood of malformed requests or slow senders then shows in the log and
 * in authd_http_requests_total. Like node's, it writes nothing while the answer node is writing
 * on the connection (`_httpMessage`, node's own note, which its default listener reads) has begun.
 *
 * The line is for requests that never reached authd. None is written while an answer is being
 * written (its request logs its own line), nor when the connection's latest answer went out
 * before its request's body had all arrived (`latestAnswer`): the timeout is that request's. A
 * connection that sent nothing gets node's 408 without a line.
 */
export function answerClientErrors(
  logger: Logger,
  metrics: Metrics,
  latestAnswer: (socket: Socket) => ServerResponse | undefined,
): (error: Error, socket: Socket) => void {
  return (error, socket) => {
    const writing = (socket as ServerSocket)._httpMessage ?? undefined;
    if (socket.writable && writing?.headersSent !== true) {
      const code = codeOf(error);
      const status = STATUS_BY_CODE[code] ?? 400;
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
      // A connection that sent nothing in the request timeout (a pool's spare, a preconnect) made no request.
      const requestOfItsOwn = writing === undefined && latestAnswer(socket)?.req.complete !== false && socket.bytesRead > 0;
      if (requestOfItsOwn) {
        metrics.httpRequests.inc({ method: UNKNOWN_METHOD, route: UNPARSED_ROUTE, status: String(status) });
        logger.info({ method: UNKNOWN_METHOD, route: UNPARSED_ROUTE, status, reason: code }, 'request');
      }
    }
    socket.destroy(error);
  };
}
