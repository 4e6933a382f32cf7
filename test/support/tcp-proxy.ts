import net from 'node:net';

/**
 * A TCP proxy in front of Postgres that a test can cut and restore, as a network failure would,
 * and that counts the simple queries ('Q' messages) clients send: each is one round trip.
 */
export class TcpProxy {
  #server: net.Server;
  #sockets = new Set<net.Socket>();
  #cut = false;
  port = 0;
  queries = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.#server = net.createServer((client) => {
      if (this.#cut) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', this.#framer());
      client.pipe(upstream).pipe(client);
    });
  }

  /**
   * Follows one client's messages: the startup message has no type byte, every later one is a
   * type byte and a length that counts itself.
   */
  #framer(): (chunk: Buffer) => void {
    let pending = Buffer.alloc(0);
    let started = false;
    return (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const header = started ? 5 : 4;
        if (pending.length < header) return;
        const size = started ? 1 + pending.readUInt32BE(1) : pending.readUInt32BE(0);
        if (pending.length < size) return;
        if (started && pending[0] === 0x51) this.queries++;
        started = true;
        pending = pending.subarray(size);
      }
    };
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  /** Drops every open connection and refuses new ones. */
  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#cut = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A started proxy in front of the Postgres that `databaseUrl` names, and that URL pointed at it. */
export async function proxyInFrontOf(databaseUrl: string): Promise<{ proxy: TcpProxy; url: URL }> {
  const direct = new URL(databaseUrl);
  const proxy = new TcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  await proxy.start();
  const url = new URL(direct);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return { proxy, url };
}
