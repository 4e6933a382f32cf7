export interface GroupCommitOptions {
  /** Most items in one flush. */
  maxItems: number;
  /** Longest an item waits for others to join its flush, in ms (0: flush at once). */
  maxWaitMs: number;
  /** Flushes that may run at the same time (transactions on separate connections). */
  maxInFlight: number;
}

interface Waiting<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * What a flush reports: nothing when every item was written, or the error of each item that was
 * not (undefined where that item was written).
 */
export type FlushOutcome = void | (unknown | undefined)[];

/**
 * Gathers items from concurrent callers and hands them to `flush` together, so that many requests
 * share one transaction. Each caller's promise settles with the flush that held its item: resolved
 * after its item was written (committed), rejected with its error otherwise.
 */
export class GroupCommit<T> {
  #queue: Waiting<T>[] = [];
  #inFlight = 0;
  #timer: NodeJS.Timeout | null = null;
  #idle: (() => void)[] = [];

  constructor(
    private readonly flush: (items: T[]) => Promise<FlushOutcome>,
    private readonly opts: GroupCommitOptions,
  ) {}

  submit(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** Items waiting or being written. */
  get pending(): number {
    return this.#queue.length + this.#inFlight;
  }

  /** Resolves once everything submitted so far has been flushed. */
  async drain(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  #schedule(): void {
    if (this.#queue.length === 0 || this.#inFlight >= this.opts.maxInFlight) return;
    if (this.#queue.length >= this.opts.maxItems || this.opts.maxWaitMs === 0) {
      this.#start();
      return;
    }
    this.#timer ??= setTimeout(() => this.#start(), this.opts.maxWaitMs);
  }

  #start(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#queue.length === 0 || this.#inFlight >= this.opts.maxInFlight) return;
    const batch = this.#queue.splice(0, this.opts.maxItems);
    this.#inFlight++;
    this.flush(batch.map((w) => w.item)).then(
      (errors) => batch.forEach((w, i) => (errors?.[i] === undefined ? w.resolve() : w.reject(errors[i]))),
      (err: unknown) => batch.forEach((w) => w.reject(err)),
    ).finally(() => {
      this.#inFlight--;
      if (this.#queue.length === 0 && this.#inFlight === 0) this.#idle.splice(0).forEach((r) => r());
      // Whatever queued meanwhile has waited a whole flush already: write it now.
      this.#start();
    });
    // More may already be waiting than one flush takes.
    this.#schedule();
  }
}
