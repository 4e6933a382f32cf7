import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { idlePolling, type IdlePolling } from './idle-polling.js';
import { percentile } from './load.js';

/**
 * What it costs this machine to wake a sleeping thread and be woken back by it, and how its idle
 * cores wait.
 */
export interface WakeUp extends IdlePolling {
  round_trips: number;
  p50_us: number;
  p99_us: number;
}

/**
 * The second thread's code (CommonJS, as a worker's `eval` takes it). Its data is an Int32Array:
 * slot 0 the number of the last ping, slot 1 the number of the last pong; a negative ping ends it.
 */
const ANSWERER = `const { workerData: s } = require('node:worker_threads');
for (let n = 1; ; n++) {
  Atomics.wait(s, 0, n - 1);
  if (Atomics.load(s, 0) < 0) break;
  Atomics.store(s, 1, n);
  Atomics.notify(s, 1);
}`;

/** What a test of the ways it fails may change; the bench takes the defaults. */
export interface WakeUpOptions {
  /** The second thread's code, in place of the answerer above. */
  answerer?: string;
  /** How long to wait for one answer before giving up (ms). */
  answerWithinMs?: number;
}

/**
 * Ping-pongs between this thread and another through futexes (`Atomics.wait` / `notify`), each
 * thread asleep while the other answers, one after another for `seconds`. Every hand-over in the
 * server (to the preparation thread, to Postgres, to the load generator) pays such a wake-up, and
 * on some virtual machines it costs several times what it does on others.
 */
export async function wakeUpRoundTrip(
  seconds: number,
  { answerer = ANSWERER, answerWithinMs = 10_000 }: WakeUpOptions = {},
): Promise<WakeUp> {
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(answerer, { eval: true, workerData: shared });
  // Its error, if it dies of one: held, not thrown, as this thread may be blocked when it comes.
  const exited = new Promise<Error | null>((resolve) => {
    worker.once('error', resolve);
    worker.once('exit', () => resolve(null));
  });
  const giveUp = async (reason: Error | null): Promise<never> => {
    await worker.terminate();
    throw (
      reason ??
      (await exited) ??
      new Error(`the wake-up round trip: the second thread did not answer within ${answerWithinMs / 1000} s`)
    );
  };
  // The first answer waits for the thread to load, which on a busy machine takes long. Wait for it
  // without blocking this thread, so that a thread that dies while loading is reported at once, by
  // its own error, whatever the answer window. It polls against a deadline read from the clock, as
  // `Atomics.waitAsync`'s timeout counts from the event loop's cached time: after the commit floor's
  // in-process PGlite queries, which resolve without the loop turning, that time is seconds old
  // and a 10 s timeout fired at once.
  Atomics.store(shared, 0, 1);
  Atomics.notify(shared, 0);
  const deadline = performance.now() + answerWithinMs;
  while (Atomics.load(shared, 1) !== 1) {
    if (performance.now() > deadline) await giveUp(null);
    const ended = await Promise.race([exited, delay(1, undefined)]);
    if (ended !== undefined) await giveUp(ended ?? new Error('the wake-up round trip: the second thread ended without answering'));
  }
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  for (let n = 2; performance.now() < end; n++) {
    const started = performance.now();
    Atomics.store(shared, 0, n);
    Atomics.notify(shared, 0);
    // A thread that has died never answers, and this thread, blocked, would take no signal: give
    // up in time.
    if (Atomics.load(shared, 1) !== n && Atomics.wait(shared, 1, n - 1, answerWithinMs) === 'timed-out') {
      await giveUp(null);
    }
    latencies.push((performance.now() - started) * 1000);
  }
  Atomics.store(shared, 0, -1);
  Atomics.notify(shared, 0);
  const died = await exited;
  if (died) throw died;
  const sorted = Float64Array.from(latencies).sort();
  return {
    round_trips: sorted.length,
    p50_us: +percentile(sorted, 50).toFixed(1),
    p99_us: +percentile(sorted, 99).toFixed(1),
    ...idlePolling(),
  };
}
