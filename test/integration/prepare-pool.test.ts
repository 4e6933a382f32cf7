import { afterEach, describe, expect, it } from 'vitest';
import { prepareDelivery, type DeliveryInput } from '../../src/ingest/prepare-delivery.js';
import { deliveryPreparer, PreparationThreadError, type DeliveryPreparer } from '../../src/ingest/prepare-pool.js';
import { UndecodableBodyError } from '../../src/otlp/model.js';
import { encode } from '../../bench/deliveries.js';
import { openRouterDelivery } from '../fixtures/openrouter.js';

const json = (generationId: string): DeliveryInput => ({
  body: Buffer.from(JSON.stringify(openRouterDelivery({ generationId, inputTokens: 10, outputTokens: 5, totalCost: 0.002, children: true }))),
  encoding: 'json',
  orgId: '7',
  apiKeyId: '00000000-0000-4000-8000-000000000001',
  storeContent: true,
});

/** A JSON body far larger than a small thread heap can parse: ~40 MB of attributes. */
function hugeDelivery(): DeliveryInput {
  const body = openRouterDelivery({ generationId: 'gen-huge', inputTokens: 1, outputTokens: 1, totalCost: 0.001, children: false });
  const span = body.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
  for (let i = 0; i < 400_000; i++) span.attributes.push({ key: `padding.${i}`, value: { stringValue: 'x'.repeat(64) } });
  return { ...json('unused'), body: Buffer.from(JSON.stringify(body)) };
}

let preparer: DeliveryPreparer | undefined;
afterEach(async () => {
  await preparer?.close();
  preparer = undefined;
});

describe('delivery preparation threads', () => {
  it('give exactly what preparing on the serving thread gives, JSON and protobuf', async () => {
    preparer = deliveryPreparer(2);
    await preparer.ready();
    const deliveries = [json('gen-pool-1'), json('gen-pool-2')];
    const proto: DeliveryInput = { ...json('unused'), encoding: 'protobuf', body: encode(JSON.parse(deliveries[0]!.body.toString()) as object, 'protobuf') };
    for (const input of [...deliveries, proto]) {
      const onThread = await preparer.prepare(input);
      expect(onThread).toEqual(prepareDelivery(input));
      expect(onThread.spans.map((s) => s.usageRow !== null)).toEqual([true, false, false]);
    }
    expect(preparer.pending).toBe(0);
  });

  it('turn an unreadable body into the same 400-class error as inline', async () => {
    preparer = deliveryPreparer(1);
    const bad = { ...json('unused'), body: Buffer.from('{"resourceSpans": [') };
    await expect(preparer.prepare(bad)).rejects.toBeInstanceOf(UndecodableBodyError);
    await expect(preparer.prepare(bad)).rejects.toThrow(/body is not valid JSON/);
  });

  it('fail only the deliveries a dying thread held, and replace the thread', async () => {
    preparer = deliveryPreparer(1, { maxHeapMb: 64 });
    const failed = preparer.prepare(hugeDelivery());
    await expect(failed).rejects.toBeInstanceOf(PreparationThreadError);
    await expect(failed).rejects.toThrow(/preparation thread stopped/);
    const after = await preparer.prepare(json('gen-after-crash'));
    expect(after.spans).toHaveLength(3);
  });

  it('refuse new deliveries once closed', async () => {
    const closing = deliveryPreparer(1);
    await closing.close();
    await expect(closing.prepare(json('gen-closed'))).rejects.toBeInstanceOf(PreparationThreadError);
  });
});
