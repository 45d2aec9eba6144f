import type { RequestListener, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * How a shutdown ends kept-alive connections without cutting an answer: once it begins, every
 * answer not yet begun says `Connection: close` (the running ones too), so that the client's next
 * request waits for a new connection instead of arriving as the server closes this one.
 */
export interface ConnectionDrain {
  /** `next`, with each request's answer noted on its connection (and, once draining, told to close it). */
  listener(next: RequestListener): RequestListener;
  /** For the server's 'connection' event. */
  track(socket: Socket): void;
  /** The answer to the connection's latest request, finished or not. */
  latestAnswer(socket: Socket): ServerResponse | undefined;
  begin(): void;
}

/** A connection's answer to its latest request, noted on the socket (no bookkeeping per request). */
const ANSWERING = Symbol('answering');
type AnsweringSocket = Socket & { [ANSWERING]?: ServerResponse };

export function createConnectionDrain(): ConnectionDrain {
  let draining = false;
  const connections = new Set<AnsweringSocket>();
  /** Answers told to close by the drain, which a request pipelined behind one takes over. */
  const closedByDrain = new WeakSet<ServerResponse>();
  /** Makes an answer close its connection; one closing it already (the client asked) is left as it is. */
  const closeAfter = (response: ServerResponse) => {
    if (!response.shouldKeepAlive) return;
    response.shouldKeepAlive = false;
    closedByDrain.add(response);
  };

  return {
    listener: (next) => (request, response) => {
      const socket = request.socket as AnsweringSocket;
      if (draining) {
        // Node runs a request pipelined behind an unfinished answer at once, and holds its answer
        // until that one has ended. After an answer gone out saying close (finished or not) this
        // one's would be dropped with the connection, its work done for nothing: it is not run.
        // Else the close passes to it from the earlier answer, if the drain set it there.
        const before = socket[ANSWERING];
        if (before?.headersSent === true && !before.shouldKeepAlive) return;
        if (before !== undefined && !before.headersSent && closedByDrain.has(before)) before.shouldKeepAlive = true;
        closeAfter(response);
      }
      socket[ANSWERING] = response;
      next(request, response);
    },
    latestAnswer: (socket) => (socket as AnsweringSocket)[ANSWERING],
    track(socket) {
      connections.add(socket);
      socket.once('close', () => connections.delete(socket));
    },
    begin() {
      draining = true;
      for (const connection of connections) {
        const response = connection[ANSWERING];
        if (response !== undefined && !response.headersSent) closeAfter(response);
      }
    },
  };
}
