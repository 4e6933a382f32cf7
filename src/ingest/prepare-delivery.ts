import type { StagedSpan } from '../ledger/copy-rows.js';
import { stageSpans } from '../ledger/copy-rows.js';
import { decodeJson } from '../otlp/decode-json.js';
import { decodeProtobuf } from '../otlp/decode-protobuf.js';
import type { Rejection } from '../otlp/model.js';
import type { Encoding } from '../otlp/reply.js';
import { prepareSpans } from '../spend/records.js';

/** One authenticated delivery's body and what is known of its sender. */
export interface DeliveryInput {
  body: Uint8Array;
  encoding: Encoding;
  orgId: string;
  apiKeyId: string;
  storeContent: boolean;
  /** Most spans the body may hold (`LEDGER_MAX_SPANS_PER_REQUEST`). */
  maxSpans: number;
}

export interface PreparedDelivery {
  spans: StagedSpan[];
  rejected: Rejection[];
  /** The delivery held OpenRouter's connection-test span (never stored). */
  connectionTest: boolean;
}

/**
 * Everything between a delivery's bytes and the ledger that needs no database: decode, extract
 * spend, split content off, build the COPY rows. Pure CPU work, so it can run on another thread.
 */
export function prepareDelivery(input: DeliveryInput): PreparedDelivery {
  const { body } = input;
  const decoded =
    input.encoding === 'protobuf'
      ? decodeProtobuf(body, input.maxSpans)
      : decodeJson(body.length === 0 ? '{}' : Buffer.from(body.buffer, body.byteOffset, body.byteLength), input.maxSpans);
  const prepared = prepareSpans(decoded, input.storeContent);
  return {
    spans: stageSpans(input.orgId, input.apiKeyId, prepared.records),
    rejected: prepared.rejected,
    connectionTest: prepared.connectionTest,
  };
}
