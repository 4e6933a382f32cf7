import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyVerifier, Principal } from '../auth/verifier.js';
import { markKeyTested } from '../auth/key-store.js';
import { orUnavailable } from '../ledger/unavailable.js';
import type { LedgerDatabase } from '../ledger/database.js';
import type { LedgerWriter } from '../ledger/ledger-writer.js';
import type { Rejection } from '../otlp/model.js';
import { CONTENT_TYPES, encodeExportResponse } from '../otlp/reply.js';
import type { DeliveryPreparer } from '../ingest/prepare-pool.js';
import type { Metrics } from './metrics.js';
import { assertBodyType, BODY_TYPES, decodedBody, requestEncoding, unsupportedContentType } from './body.js';
import { authorize } from './authorize.js';
import { HttpError, RETRY_AFTER_SECONDS } from './errors.js';
import { refuseOtherMethods } from './method-not-allowed.js';
import type { BodyBudget } from './body-budget.js';
import type { KeyRateLimiter } from '../auth/rate-limit.js';
import { DISK_FULL, type DiskSpaceGuard } from '../ledger/disk-space.js';

export const INGEST_PATHS = [
  '/developer/v1/ai-usage/openrouter/v1/traces',
  '/developer/v1/ai-usage/openrouter',
  '/v1/traces',
];

export interface IngestDeps {
  ledger: LedgerDatabase;
  writer: LedgerWriter;
  preparer: DeliveryPreparer;
  verifier: KeyVerifier;
  metrics: Metrics;
  storeContent: boolean;
  maxSpans: number;
  maxBodyBytes: number;
  bodies: BodyBudget;
  limiter: KeyRateLimiter;
  /** Deliveries in hand (arriving, waiting for the body budget, prepared or committing) beyond which new ones get 503. */
  maxPending: number;
  /** While the embedded ledger's disk is nearly full, deliveries get 503. */
  disk: DiskSpaceGuard | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

const MAX_LISTED_PROBLEMS = 5;

/** The OTLP/HTTP trace endpoints: authenticate, decode, extract, commit, acknowledge. */
export function registerIngestRoutes(app: FastifyInstance, deps: IngestDeps): void {
  let inHand = 0;
  app.register(async (scope) => {
    // Bodies are read here only, as raw buffers; the decoders do the rest.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(BODY_TYPES, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.addContentTypeParser('*', (req, _payload, done) => done(unsupportedContentType(req)));

    for (const url of INGEST_PATHS) {
      scope.route({
        method: 'POST',
        url,
        bodyLimit: deps.maxBodyBytes,
        // The key is checked before a byte of the body is read or inflated.
        onRequest: async (request, reply) => {
          request.principal = await authorize(request, deps.verifier, deps.limiter, 'ingest');
          // Overload: refuse at once, before reading the body, rather than queue without bound.
          // Counted from here, so deliveries waiting for the body budget or still arriving count too.
          if (inHand >= deps.maxPending) {
            throw new HttpError(503, 'the ledger is overloaded; retry later', RETRY_AFTER_SECONDS);
          }
          if (deps.disk?.low) throw new HttpError(503, `${DISK_FULL}; retry later`, RETRY_AFTER_SECONDS);
          inHand++;
          reply.raw.once('close', () => inHand--);
        },
        preParsing: async (request, reply, payload) => {
          if (!hasBody(request)) return payload;
          assertBodyType(request);
          await deps.bodies.holdUntilClosed(reply.raw, budgetBytes(request, deps.maxBodyBytes));
          return decodedBody(request, payload, deps.maxBodyBytes);
        },
        handler: (request, reply) => ingest(request, reply, deps),
      });
      refuseOtherMethods(scope, url, ['POST'], 'method not allowed: OTLP/HTTP traces are sent with POST');
    }
  });
}

async function ingest(request: FastifyRequest, reply: FastifyReply, deps: IngestDeps): Promise<Buffer | string> {
  const { stage } = deps.metrics;
  // Fastify's clock starts at routing, before the key check and the body.
  stage.receive.observe(reply.elapsedTime / 1000);
  const principal = request.principal!;
  const encoding = requestEncoding(request);
  const preparing = performance.now();
  const prepared = await deps.preparer.prepare({
    body: (request.body as Buffer | undefined) ?? Buffer.alloc(0),
    encoding,
    orgId: principal.orgId,
    apiKeyId: principal.keyId,
    storeContent: deps.storeContent,
    maxSpans: deps.maxSpans,
  });

  stage.prepare.observe((performance.now() - preparing) / 1000);
  const probe = prepared.connectionTest || String(request.headers['x-test-connection']).toLowerCase() === 'true';
  if (probe) await orUnavailable('record the connection test', () => markKeyTested(deps.ledger.db, principal.keyId));

  deps.metrics.spansRejected(prepared.rejected);
  if (prepared.spans.length === 0 && prepared.rejected.length > 0) {
    throw new HttpError(400, `no valid spans: ${describe(prepared.rejected)}`);
  }
  const committing = performance.now();
  await deps.writer.write({ orgId: principal.orgId, spans: prepared.spans });
  // Committed: from here on nothing may turn the reply into an error, or the sender would resend.
  try {
    stage.commit.observe((performance.now() - committing) / 1000);
    deps.metrics.spansAccepted(prepared.spans);
  } catch (err) {
    request.log.warn({ err }, 'metrics update failed');
  }

  reply.type(CONTENT_TYPES[encoding]);
  if (prepared.rejected.length === 0) return encodeExportResponse(encoding);
  return encodeExportResponse(encoding, {
    rejectedSpans: prepared.rejected.length,
    errorMessage: describe(prepared.rejected),
  });
}

/** What a body sent without Content-Length counts as in the body budget. */
const UNKNOWN_LENGTH_BYTES = 1024 * 1024;

function budgetBytes(request: FastifyRequest, maxBodyBytes: number): number {
  const length = Number(request.headers['content-length']);
  // A declared length over the body limit counts as the limit: it is refused (413) as soon as it is read.
  return Math.min(Number.isSafeInteger(length) && length > 0 ? length : UNKNOWN_LENGTH_BYTES, maxBodyBytes);
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return length === undefined ? request.headers['transfer-encoding'] !== undefined : length !== '0';
}

function describe(rejected: Rejection[]): string {
  const listed = rejected.slice(0, MAX_LISTED_PROBLEMS).map((r) => r.message);
  const more = rejected.length - listed.length;
  return `${rejected.length} rejected: ${listed.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}
