import { afterEach, describe, expect, it } from 'vitest';
import { prepareDelivery, type DeliveryInput } from '../../src/ingest/prepare-delivery.js';
import { deliveryPreparer, PreparationThreadError, type DeliveryPreparer } from '../../src/ingest/prepare-pool.js';
import { TooManySpansError, UndecodableBodyError } from '../../src/otlp/model.js';
import { encode } from '../../bench/deliveries.js';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { manyTracesBody } from '../fixtures/otlp-json.js';

const json = (generationId: string): DeliveryInput => ({
  body: Buffer.from(JSON.stringify(openRouterDelivery({ generationId, inputTokens: 10, outputTokens: 5, totalCost: 0.002, children: true }))),
  encoding: 'json',
  orgId: '7',
  apiKeyId: '00000000-0000-4000-8000-000000000001',
  storeContent: true,
  maxSpans: 100,
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

  it("take a body that is the whole of its ArrayBuffer from the caller, and copy one that shares Node's pool", async () => {
    preparer = deliveryPreparer(1);
    await preparer.ready();
    const small = json('gen-small');
    // Buffer.alloc never takes from Node's pool, so this body owns its ArrayBuffer whatever the pool's size.
    const largeText = JSON.stringify(manyTracesBody('gen-large', 20));
    const large = { ...json('unused'), body: Buffer.alloc(Buffer.byteLength(largeText), largeText) };
    expect(small.body.byteOffset > 0 || small.body.buffer.byteLength > small.body.byteLength, 'a small body shares the pool').toBe(true);
    expect(large.body.buffer.byteLength).toBe(large.body.byteLength);
    const expected = [prepareDelivery({ ...small, body: Buffer.from(small.body) }), prepareDelivery({ ...large, body: Buffer.from(large.body) })];
    const sizes = [small.body.byteLength, large.body.byteLength];
    expect(await Promise.all([preparer.prepare(small), preparer.prepare(large)])).toEqual(expected);
    expect(expected[1]!.spans).toHaveLength(20);
    // Moved: the serving thread's view of the large body is empty now; the small one is intact.
    expect([small.body.byteLength, large.body.byteLength]).toEqual([sizes[0], 0]);
  });

  it("keep Node's pool for small buffers at 8 KB, so that a body of 4 KB or more is moved on every Node", async () => {
    Buffer.poolSize = 64 * 1024; // Node 26's default, under which a body of up to 32 KB is a slice of the pool
    preparer = deliveryPreparer(1);
    await preparer.ready();
    expect(Buffer.poolSize).toBe(8 * 1024);
    // Fastify joins a body's chunks with Buffer.concat.
    const text = JSON.stringify(manyTracesBody('gen-joined', 20));
    const body = Buffer.concat([Buffer.from(text.slice(0, 1000)), Buffer.from(text.slice(1000))]);
    expect(body.byteLength).toBeGreaterThan(4 * 1024);
    expect(body.byteLength).toBeLessThan(32 * 1024);
    const input = { ...json('unused'), body };
    const expected = prepareDelivery({ ...input, body: Buffer.from(body) });
    expect(await preparer.prepare(input)).toEqual(expected);
    expect(body.byteLength, 'moved to the thread, not copied').toBe(0);
  });

  it('answer each of many deliveries in flight at once with its own rows; a bad one fails alone', async () => {
    preparer = deliveryPreparer(2);
    await preparer.ready();
    const inputs = Array.from({ length: 40 }, (_, i) => json(`gen-turn-${i}`));
    inputs[17] = { ...json('unused'), body: Buffer.from('{"resourceSpans": [') };
    const prepared = inputs.map((input) => preparer!.prepare(input).then((p) => ({ ok: p }), (err: unknown) => ({ err })));
    expect(preparer.pending).toBe(40);
    const results = await Promise.all(prepared);
    results.forEach((r, i) => {
      if (i === 17) expect((r as { err: unknown }).err).toBeInstanceOf(UndecodableBodyError);
      else expect((r as { ok: unknown }).ok).toEqual(prepareDelivery(inputs[i]!));
    });
    expect(preparer.pending).toBe(0);
  });

  it('fail the deliveries in hand when closed, rather than leave them hanging', async () => {
    const closing = deliveryPreparer(1);
    await closing.ready();
    const waiting = closing.prepare(json('gen-waiting')).catch((err: unknown) => err);
    await closing.close();
    const failure = await waiting;
    expect(failure).toBeInstanceOf(PreparationThreadError);
    expect((failure as Error).message).toBe('the server is shutting down');
    expect(closing.pending).toBe(0);
  });

  it('turn an unreadable body, or one of too many spans, into the same error as inline', async () => {
    preparer = deliveryPreparer(1);
    const bad = { ...json('unused'), body: Buffer.from('{"resourceSpans": [') };
    await expect(preparer.prepare(bad)).rejects.toBeInstanceOf(UndecodableBodyError);
    await expect(preparer.prepare(bad)).rejects.toThrow(/body is not valid JSON/);
    const tooMany = { ...json('gen-many'), maxSpans: 2 };
    await expect(preparer.prepare(tooMany)).rejects.toBeInstanceOf(TooManySpansError);
    await expect(preparer.prepare(tooMany)).rejects.toThrow('3 spans in one request; this server takes at most 2: send smaller batches');
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
