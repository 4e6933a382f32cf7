import { parentPort } from 'node:worker_threads';
import { TooManySpansError, UndecodableBodyError } from '../otlp/model.js';
import { prepareDelivery, type DeliveryInput, type PreparedDelivery } from './prepare-delivery.js';

/** What the thread answers for task `id`; `ready` once, when it has loaded and listens. */
export type PrepareReply =
  | { ready: true }
  | { id: number; ok: PreparedDelivery }
  | { id: number; error: { kind: 'undecodable' | 'too_many_spans' | 'other'; message: string } };

// A thread of the preparation pool: takes deliveries, answers with their staged rows.
parentPort!.on('message', ({ id, input }: { id: number; input: DeliveryInput }) => {
  let reply: PrepareReply;
  try {
    reply = { id, ok: prepareDelivery(input) };
  } catch (err) {
    const kind = err instanceof UndecodableBodyError ? 'undecodable' : err instanceof TooManySpansError ? 'too_many_spans' : 'other';
    reply = { id, error: { kind, message: String((err as Error).message) } };
  }
  parentPort!.postMessage(reply);
});
parentPort!.postMessage({ ready: true } satisfies PrepareReply);
