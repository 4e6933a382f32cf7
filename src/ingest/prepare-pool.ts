import { Worker } from 'node:worker_threads';
import { keepBufferPoolSmall } from './buffer-pool.js';
import { prepareError } from './prepare-errors.js';
import { prepareDelivery, type DeliveryInput, type PreparedDelivery } from './prepare-delivery.js';
import type { PrepareReply } from './prepare-worker.js';

/** Prepares deliveries for the ledger, on the calling thread or on a pool of threads. */
export interface DeliveryPreparer {
  /** Resolves once every thread has started; rejects if one cannot (a broken build, say). */
  ready(): Promise<void>;
  /** On a thread, a body that is the whole of its ArrayBuffer is moved there: the caller's copy is emptied. */
  prepare(input: DeliveryInput): Promise<PreparedDelivery>;
  /** Deliveries handed over and not yet answered. */
  readonly pending: number;
  /** Fails the deliveries in hand at once (a reply already on its way is dropped), then stops the threads. */
  close(): Promise<void>;
}

export interface PreparePoolOptions {
  /** Heap limit of each thread (V8's old space), in MB; by default V8's own. */
  maxHeapMb?: number;
}

/**
 * `threads` 0: prepare on the calling thread. Otherwise that many threads decode and build rows,
 * so the main thread keeps only HTTP, keys and the ledger's round trips.
 */
export function deliveryPreparer(threads: number, opts: PreparePoolOptions = {}): DeliveryPreparer {
  keepBufferPoolSmall();
  if (threads === 0) {
    return { ready: async () => {}, prepare: async (input) => prepareDelivery(input), pending: 0, close: async () => {} };
  }
  return new PreparePool(threads, opts);
}

interface Task {
  resolve: (prepared: PreparedDelivery) => void;
  reject: (err: Error) => void;
}

interface PoolThread {
  worker: Worker;
  tasks: Map<number, Task>;
  /** Settles when the thread has loaded and listens (or failed to). */
  started: Promise<void>;
}

/** A thread that failed before it started is tried again only after this long, not in a loop. */
const RESTART_DELAY_MS = 1_000;

/** Why a delivery offered, or still in hand, when the pool closes fails. */
const SHUTTING_DOWN = 'the server is shutting down';

/** A delivery lost with its preparation thread (or none running): it fails (503), nothing half-done. */
export class PreparationThreadError extends Error {}

class PreparePool implements DeliveryPreparer {
  readonly #threads: PoolThread[] = [];
  #nextId = 0;
  #closing = false;

  constructor(
    size: number,
    private readonly opts: PreparePoolOptions,
  ) {
    for (let i = 0; i < size; i++) this.#threads.push(this.#start());
  }

  get pending(): number {
    return this.#threads.reduce((n, t) => n + t.tasks.size, 0);
  }

  async ready(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t.started));
  }

  prepare(input: DeliveryInput): Promise<PreparedDelivery> {
    if (this.#closing) return Promise.reject(new PreparationThreadError(SHUTTING_DOWN));
    if (this.#threads.length === 0) return Promise.reject(new PreparationThreadError('no delivery preparation thread is running'));
    const thread = this.#threads.reduce((a, b) => (b.tasks.size < a.tasks.size ? b : a));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      thread.tasks.set(id, { resolve, reject });
      try {
        thread.worker.postMessage({ id, input }, movable(input.body));
      } catch (err) {
        thread.tasks.delete(id);
        reject(err as Error);
      }
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    // Failed here, not as each thread exits: a reply racing the exit would otherwise settle some
    // deliveries one way and some the other.
    const failure = new PreparationThreadError(SHUTTING_DOWN);
    for (const thread of this.#threads) failTasks(thread, failure);
    await Promise.all(this.#threads.map((t) => t.worker.terminate()));
  }

  #start(): PoolThread {
    const worker = startWorker(this.opts);
    let listening = false;
    let signalStarted: () => void = () => {};
    const thread: PoolThread = {
      worker,
      tasks: new Map(),
      started: new Promise((resolve, reject) => {
        signalStarted = resolve;
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`exited with code ${code}`)));
      }),
    };
    thread.started.catch(() => {});
    worker.on('message', (reply: PrepareReply) => {
      if ('ready' in reply) {
        listening = true;
        signalStarted();
        return;
      }
      const task = thread.tasks.get(reply.id);
      if (!task) return;
      thread.tasks.delete(reply.id);
      if ('ok' in reply) task.resolve(reply.ok);
      else task.reject(prepareError(reply.error.kind, reply.error.message));
    });
    // A thread that dies (out of memory, a bug) fails only the deliveries it held, and is replaced:
    // at once if it had been running, after a pause if it never started.
    worker.on('error', (err) => this.#stopped(thread, err, listening));
    worker.on('exit', (code) => this.#stopped(thread, new Error(`exited with code ${code}`), listening));
    worker.unref();
    return thread;
  }

  #stopped(thread: PoolThread, cause: Error, hadStarted: boolean): void {
    const at = this.#threads.indexOf(thread);
    if (at === -1) return;
    this.#threads.splice(at, 1);
    failTasks(thread, new PreparationThreadError(`a delivery preparation thread stopped: ${cause.message}`, { cause }));
    void thread.worker.terminate();
    if (this.#closing) return;
    const replace = () => {
      if (!this.#closing) this.#threads.push(this.#start());
    };
    if (hadStarted) replace();
    else setTimeout(replace, RESTART_DELAY_MS).unref();
  }
}

function failTasks(thread: PoolThread, failure: PreparationThreadError): void {
  for (const task of thread.tasks.values()) task.reject(failure);
  thread.tasks.clear();
}

/**
 * A body that is the whole of its ArrayBuffer (Node gives one of its own to each buffer of half
 * `Buffer.poolSize` or more: 4 KB, as `keepBufferPoolSmall` keeps it) is moved to the thread, not
 * copied: the serving thread has no more use for it, and a copy waiting in the thread's queue is as
 * big again. Smaller ones share Node's pooled ArrayBuffer, and are copied. Sixteen 50,000-span
 * bodies sent at once: 407-448 MB peak moved (6 runs), 461-501 copied (4 runs).
 */
function movable(body: Uint8Array): ArrayBuffer[] {
  const own = body.byteLength > 0 && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
  return own ? [body.buffer as ArrayBuffer] : [];
}

/**
 * The thread runs the compiled `.js` beside this file; run from TypeScript sources (tsx, vitest),
 * it first registers tsx's loader in the thread, since a thread does not inherit the main thread's.
 */
function startWorker(opts: PreparePoolOptions): Worker {
  const options = opts.maxHeapMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb } };
  const entry = new URL(`./prepare-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  if (entry.pathname.endsWith('.js')) return new Worker(entry, options);
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}
