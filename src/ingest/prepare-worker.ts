import { parentPort } from 'node:worker_threads';
import { prepareErrorKind, type PrepareErrorKind } from './prepare-errors.js';
import { prepareDelivery, type DeliveryInput, type PreparedDelivery } from './prepare-delivery.js';

/** What the thread answers for task `id`; `ready` once, when it has loaded and listens. */
export type PrepareReply =
  | { ready: true }
  | { id: number; ok: PreparedDelivery }
  | { id: number; error: { kind: PrepareErrorKind; message: string } };

// A thread of the preparation pool: takes deliveries, answers with their staged rows.
parentPort!.on('message', ({ id, input }: { id: number; input: DeliveryInput }) => {
  let reply: PrepareReply;
  try {
    reply = { id, ok: prepareDelivery(input) };
  } catch (err) {
    reply = { id, error: { kind: prepareErrorKind(err), message: String((err as Error).message) } };
  }
  parentPort!.postMessage(reply);
});
parentPort!.postMessage({ ready: true } satisfies PrepareReply);
