import type { ServerResponse } from 'node:http';

/**
 * Bytes of request bodies the server holds at once. A delivery's body is read only once its bytes
 * fit, in arrival order, so a burst of large deliveries waits in the senders' TCP buffers instead
 * of growing the heap until the process is killed for its memory (with every delivery in it).
 */
export class BodyBudget {
  private used = 0;
  private readonly queue: { bytes: number; admit: (release: () => void) => void }[] = [];

  constructor(private readonly limit: number) {}

  get bytesHeld(): number {
    return this.used;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Holds `bytes` from when they fit until `response` closes (its reply sent or its connection
   * dropped: the delivery's decoded rows live that long), even if it closes while waiting.
   */
  async holdUntilClosed(response: ServerResponse, bytes: number): Promise<void> {
    let closed = false;
    let release: (() => void) | undefined;
    response.once('close', () => {
      closed = true;
      release?.();
    });
    release = await this.reserve(bytes);
    if (closed) release();
  }

  /** Resolves once `bytes` fit; a body over the whole budget goes when nothing else is held. */
  private reserve(bytes: number): Promise<() => void> {
    return new Promise((admit) => {
      this.queue.push({ bytes, admit });
      this.admitFromHead();
    });
  }

  private admitFromHead(): void {
    for (let next = this.queue[0]; next !== undefined; next = this.queue[0]) {
      if (this.used > 0 && this.used + next.bytes > this.limit) return;
      this.queue.shift();
      this.used += next.bytes;
      let released = false;
      const { bytes } = next;
      next.admit(() => {
        if (released) return;
        released = true;
        this.used -= bytes;
        this.admitFromHead();
      });
    }
  }
}
