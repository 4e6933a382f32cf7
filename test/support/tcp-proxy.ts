import net from 'node:net';

/**
 * A TCP proxy in front of Postgres that a test can cut and restore, as a network failure would,
 * that counts the messages clients send by type, and that can hold the server's replies back, to
 * show what a client sends without waiting for them.
 */
export class TcpProxy {
  #server: net.Server;
  #sockets = new Set<net.Socket>();
  #cut = false;
  #held: (() => void)[] | null = null;
  port = 0;
  /** Messages clients have sent, by type byte: 'Q' a simple query, 'd' CopyData, 'c' CopyDone… */
  readonly sent = new Map<string, number>();

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
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        if (this.#held) this.#held.push(() => client.write(chunk));
        else client.write(chunk);
      });
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
        if (started) {
          const type = String.fromCharCode(pending[0]!);
          this.sent.set(type, (this.sent.get(type) ?? 0) + 1);
        }
        started = true;
        pending = pending.subarray(size);
      }
    };
  }

  /** Simple queries sent so far: each is one round trip. */
  get queries(): number {
    return this.sent.get('Q') ?? 0;
  }

  /** The server's replies wait in the proxy, in order, until `releaseReplies`. */
  holdReplies(): void {
    this.#held ??= [];
  }

  releaseReplies(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const send of held) send();
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
