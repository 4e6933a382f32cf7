import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import { keepBufferPoolSmall } from './buffer-pool.js';
import { prepareErrorKind, type PrepareErrorKind } from './prepare-errors.js';
import { prepareDelivery, type DeliveryInput, type PreparedDelivery } from './prepare-delivery.js';

/** What the thread answers for task `id`; `ready` once, when it has loaded and listens. */
export type PrepareReply =
  | { ready: true }
  | { id: number; ok: PreparedDelivery }
  | { id: number; error: { kind: PrepareErrorKind; message: string } };

/**
 * After a large delivery (this many spans, or a body this big, whatever became of it) the thread
 * collects its garbage at once. V8 let the heap of a thread that had prepared one of 100,000 spans
 * stay at what that needed, garbage and all, and grow again with the next: four such deliveries
 * one after another took the server to 831 MB, 548 with this; sixty-four of 8,192 spans at once,
 * 352 and 306 (a collection costs the thread 10-17 ms after 8,192 spans, 28-46 after 100,000, and
 * the runs took less time, not more).
 */
const LARGE_DELIVERY_SPANS = 4_096;
const LARGE_BODY_BYTES = 1024 * 1024;
setFlagsFromString('--expose-gc');
keepBufferPoolSmall();
const collectGarbage = runInNewContext('gc') as () => void;

// A thread of the preparation pool: takes deliveries, answers with their staged rows.
parentPort!.on('message', ({ id, input }: { id: number; input: DeliveryInput }) => {
  let reply: PrepareReply;
  try {
    reply = { id, ok: prepareDelivery(input) };
  } catch (err) {
    reply = { id, error: { kind: prepareErrorKind(err), message: String((err as Error).message) } };
  }
  // Every row of a delivery is in one ArrayBuffer of its own (stageSpans): moved to the serving
  // thread, not copied. Sixteen 50,000-span bodies at once: 469-501 MB peak, against 514-562 MB
  // copied, in as long; a small delivery's hand-over is no dearer.
  const spans = 'ok' in reply ? reply.ok.spans : [];
  const rows = spans[0]?.spanRow.buffer;
  parentPort!.postMessage(reply, rows ? [rows as ArrayBuffer] : []);
  if (spans.length >= LARGE_DELIVERY_SPANS || input.body.byteLength >= LARGE_BODY_BYTES) collectGarbage();
});
parentPort!.postMessage({ ready: true } satisfies PrepareReply);
