import { randomUUID } from 'node:crypto';
import http from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import type { Config } from '../config.js';
import type { KeyVerifier } from '../auth/verifier.js';
import { bearerCredential, hashKey, maskKeys, sameHash } from '../auth/key-format.js';
import type { LedgerDatabase } from '../ledger/database.js';
import type { LedgerWriter } from '../ledger/ledger-writer.js';
import type { DeliveryPreparer } from '../ingest/prepare-pool.js';
import { CONTENT_TYPES, encodeStatus } from '../otlp/reply.js';
import { requestEncoding } from './body.js';
import { clientErrorReply, HttpError, toErrorReply } from './errors.js';
import { RepeatedErrorLog } from './repeated-errors.js';
import { KeyRateLimiter } from '../auth/rate-limit.js';
import { registerIngestRoutes } from './ingest-routes.js';
import { DISK_FULL, type DiskSpaceGuard } from '../ledger/disk-space.js';
import { registerReadRoutes } from './read-routes.js';
import type { Metrics } from './metrics.js';
import type { BodyBudget } from './body-budget.js';

export interface AppDeps {
  config: Config;
  ledger: LedgerDatabase;
  writer: LedgerWriter;
  preparer: DeliveryPreparer;
  verifier: KeyVerifier;
  metrics: Metrics;
  bodies: BodyBudget;
  /** The embedded ledger's disk space; null where it is not watched. */
  disk: DiskSpaceGuard | null;
}

/** Headers whose values never reach a log line. */
function redactedHeaders(config: Config): string[] {
  const names = ['authorization', 'x-api-key', 'cookie', ...config.LEDGER_REDACT_HEADERS];
  return names.flatMap((h) => [`headers["${h}"]`, `req.headers["${h}"]`]);
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const { config, metrics } = deps;
  const app = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      redact: { paths: redactedHeaders(config), censor: '[redacted]' },
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    bodyLimit: config.LEDGER_MAX_BODY_BYTES,
    // A Base URL pasted with a trailing slash makes senders post to `…/openrouter/` or `…/openrouter//v1/traces`.
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
    serverFactory: (handler) => {
      const timeout = config.LEDGER_REQUEST_TIMEOUT_MS;
      // A slow or stalled sender cannot hold a connection: the whole request must arrive in time,
      // checked every second (Node's default check runs only every 30 s).
      const server = http.createServer(
        { requestTimeout: timeout, headersTimeout: timeout, connectionsCheckingInterval: Math.min(1_000, timeout) },
        handler,
      );
      server.keepAliveTimeout = 75_000;
      return server;
    },
    clientErrorHandler: (err, socket) => clientErrorReply(err, socket, config.LEDGER_REQUEST_TIMEOUT_MS),
    return503OnClosing: true,
    // Two log lines per request would cost more than the request; refusals and errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
  });

  const debugLogging = config.LOG_LEVEL === 'debug' || config.LOG_LEVEL === 'trace';
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    if (debugLogging) {
      // A key may be pasted where it does not belong (the Base URL's query, a custom header).
      const headers = Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [name, typeof value === 'string' ? maskKeys(value) : value]),
      );
      request.log.debug(
        { method: request.method, url: maskKeys(request.url), headers, status: reply.statusCode, ms: reply.elapsedTime },
        'request completed',
      );
    }
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
  });

  const internalErrors = new RepeatedErrorLog(app.log);
  app.addHook('onClose', async () => internalErrors.flush());
  app.setErrorHandler(async (err, request, reply) => {
    const r = toErrorReply(err);
    if (r.internal) internalErrors.error(request.log, err, r.message);
    else request.log.info({ status: r.status, reason: r.message }, 'request refused');
    if (r.retryAfterSeconds !== undefined) reply.header('retry-after', String(r.retryAfterSeconds));
    return sendStatus(request, reply.code(r.status), r.grpcCode, r.message);
  });

  app.setNotFoundHandler(async (request, reply) =>
    sendStatus(request, reply.code(404), 5, `no such endpoint: ${request.method} ${request.url.split('?')[0]}`),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (deps.disk?.low) {
      reply.code(503).header('retry-after', '5');
      return { status: 'unavailable', message: DISK_FULL };
    }
    try {
      await sql`SELECT 1`.execute(deps.ledger.db);
      return { status: 'ready' };
    } catch {
      reply.code(503).header('retry-after', '5');
      return { status: 'unavailable', message: 'the ledger does not answer' };
    }
  });
  const metricsToken = config.LEDGER_METRICS_TOKEN === undefined ? null : hashKey(config.LEDGER_METRICS_TOKEN);
  app.get('/metrics', async (request, reply) => {
    if (metricsToken === null) {
      throw new HttpError(404, 'metrics are off: set LEDGER_METRICS_TOKEN, and scrape with "Authorization: Bearer <it>"');
    }
    const given = bearerCredential(request.headers.authorization);
    if (given === null || !sameHash(hashKey(given), metricsToken)) {
      throw new HttpError(401, 'metrics need "Authorization: Bearer <LEDGER_METRICS_TOKEN>"');
    }
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  const limiter = new KeyRateLimiter(config.LEDGER_RATE_LIMIT_PER_KEY);
  registerReadRoutes(app, { ledger: deps.ledger, verifier: deps.verifier, limiter });
  registerIngestRoutes(app, {
    ledger: deps.ledger,
    writer: deps.writer,
    preparer: deps.preparer,
    verifier: deps.verifier,
    metrics,
    storeContent: config.LEDGER_STORE_CONTENT,
    maxSpans: config.LEDGER_MAX_SPANS_PER_REQUEST,
    maxBodyBytes: config.LEDGER_MAX_BODY_BYTES,
    bodies: deps.bodies,
    limiter,
    maxPending: config.LEDGER_MAX_PENDING_REQUESTS,
    disk: deps.disk,
  });
  return app;
}

function sendStatus(request: FastifyRequest, reply: import('fastify').FastifyReply, grpcCode: number, message: string) {
  const encoding = requestEncoding(request);
  reply.type(CONTENT_TYPES[encoding]);
  return encodeStatus(encoding, grpcCode, message);
}
