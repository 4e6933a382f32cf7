import { describe, expect, it } from 'vitest';
import { toErrorReply } from '../../src/http/errors.js';
import { PreparationThreadError } from '../../src/ingest/prepare-pool.js';
import { UndecodableBodyError } from '../../src/otlp/model.js';

describe('what the sender is told', () => {
  it('a delivery lost with its preparation thread: 503 with Retry-After, logged, no detail leaked', () => {
    const r = toErrorReply(new PreparationThreadError('a delivery preparation thread stopped: exited with code 1'));
    expect(r).toEqual({ status: 503, grpcCode: 14, message: 'the server could not take the delivery; retry later', retryAfterSeconds: 5, internal: true });
  });

  it('an unreadable body, wherever it was decoded: 400 with the decoder’s message', () => {
    expect(toErrorReply(new UndecodableBodyError('body is not valid JSON: x'))).toMatchObject({ status: 400, message: 'body is not valid JSON: x', internal: false });
  });
});
