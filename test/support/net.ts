import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** A port on 127.0.0.1 that nothing listens on: bind one, note it, close it. */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export interface TcpProxy {
  readonly port: number;
  /** From now on, nothing more is passed either way; connections stay open, as with a hung server. */
  silence(): void;
  /** Drops every connection (a network blip) and passes data again on the new ones. */
  reset(): void;
  /** From now on, holds what either side sends (a stalled server) until `resume`. */
  stall(): void;
  /** Passes on what `stall` held, in order, and everything after it. */
  resume(): void;
  /** How many chunks the stall holds now. */
  heldChunks(): number;
  close(): Promise<void>;
}

export interface TcpProxyOptions {
  /**
   * Each chunk is passed on after this long (a slow link). A function is asked at each chunk; it
   * must not shrink while chunks are on their way, or they would pass each other.
   */
  readonly delayMs?: number | (() => number);
  /** Chunks from the server for which this answers true are dropped (an answer lost on the way). */
  readonly dropFromServer?: (chunk: Buffer, proxy: TcpProxy) => boolean;
}

/**
 * A TCP proxy on 127.0.0.1 to `target`, passing each chunk on after `delayMs`, and which can be
 * made to stop answering without closing, or to drop the server's answers one by one.
 */
export async function tcpProxy(target: { host: string; port: number }, { delayMs = 0, dropFromServer }: TcpProxyOptions = {}): Promise<TcpProxy> {
  let silent = false;
  let held: (() => unknown)[] | undefined;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const pass = (from: Socket, to: Socket, drop?: (chunk: Buffer) => boolean) =>
    from.on('data', (chunk: Buffer) => {
      if (drop?.(chunk)) return;
      const write = () => silent || to.destroyed || to.write(chunk);
      if (held !== undefined) return void held.push(write);
      const delay = typeof delayMs === 'number' ? delayMs : delayMs();
      if (delay === 0) write();
      else setTimeout(write, delay);
    });
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    track(client);
    track(upstream);
    pass(client, upstream);
    pass(upstream, client, dropFromServer && ((chunk) => dropFromServer(chunk, proxy)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: TcpProxy = {
    port: (server.address() as AddressInfo).port,
    silence: () => {
      silent = true;
    },
    reset: () => {
      for (const socket of sockets) socket.destroy();
      silent = false;
    },
    stall: () => {
      held ??= [];
    },
    heldChunks: () => held?.length ?? 0,
    resume: () => {
      const writes = held ?? [];
      held = undefined;
      for (const write of writes) write();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

/** Ports the test URLs may leave out. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = { 'redis:': 6379, 'postgres:': 5432, 'postgresql:': 5432 };

/** `url` with its host and port replaced by a `tcpProxy` to them (same credentials, path and db). */
export async function proxiedUrl(url: string, options: TcpProxyOptions = {}): Promise<{ url: string; proxy: TcpProxy }> {
  const proxied = new URL(url);
  const proxy = await tcpProxy({ host: proxied.hostname, port: Number(proxied.port || DEFAULT_PORTS[proxied.protocol]) }, options);
  proxied.host = `127.0.0.1:${proxy.port}`;
  return { url: proxied.toString(), proxy };
}
