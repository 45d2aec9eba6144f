import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { createConnectionDrain, type ConnectionDrain } from '../../src/http/connection-drain.js';
import { waitUntil } from '../support/wait.js';

/** A server behind a drain: `/slow` answers once `release()` is called, any other path at once; it notes each request it runs. */
async function drainedServer(): Promise<{ server: Server; drain: ConnectionDrain; ran: string[]; release: () => void; port: number }> {
  const drain = createConnectionDrain();
  const ran: string[] = [];
  let release = () => undefined as void;
  const slow = new Promise<void>((resolve) => (release = resolve));
  const server = createServer(
    drain.listener((request, response) => {
      ran.push(request.url ?? '');
      const answer = () => response.end(request.url);
      if (request.url === '/slow') void slow.then(answer);
      else answer();
    }),
  ).on('connection', drain.track);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, drain, ran, release, port: (server.address() as AddressInfo).port };
}

/** A raw connection: what came back, split into answers as [status, Connection header, body], once it closes. */
function rawConnection(port: number) {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    send: (text: string) => socket.write(text),
    answers: async () => {
      await closed;
      return received
        .split(/(?=HTTP\/1\.1 )/)
        .map((answer) => /^HTTP\/1\.1 (\d+)[^]*?\r\nConnection: (\S+)\r\n[^]*?\r\n\r\n(?:[0-9a-f]+\r\n)?([^\r]*)/i.exec(answer)?.slice(1));
    },
  };
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: authd\r\n\r\n`;

it('hands the close from a running answer to a request pipelined behind it once draining, and answers both', async () => {
  const { server, drain, ran, release, port } = await drainedServer();
  try {
    const connection = rawConnection(port);
    connection.send(get('/slow'));
    await waitUntil(() => ran.includes('/slow'), 5000);
    drain.begin();
    connection.send(get('/next'));
    await waitUntil(() => ran.includes('/next'), 5000);
    release();
    server.close();
    server.closeIdleConnections();
    expect(await connection.answers()).toEqual([
      ['200', 'keep-alive', '/slow'],
      ['200', 'close', '/next'],
    ]);
  } finally {
    server.closeAllConnections();
  }
});

it('does not run a request pipelined behind an answer that has gone out saying close: its answer would be dropped', async () => {
  const { server, drain, ran, port } = await drainedServer();
  try {
    drain.begin();
    const connection = rawConnection(port);
    connection.send(get('/first') + get('/second'));
    expect(await connection.answers()).toEqual([['200', 'close', '/first']]);
    expect(ran).toEqual(['/first']);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
