import http from 'node:http';
import type { Socket } from 'node:net';
import { TooManySpansError, UndecodableBodyError } from '../otlp/model.js';
import { LedgerUnavailableError } from '../ledger/unavailable.js';
import { PreparationThreadError } from '../ingest/prepare-pool.js';
import { ParamError } from '../reports/report-params.js';

/** An error whose HTTP status is decided where it is thrown. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export interface ErrorReply {
  status: number;
  grpcCode: number;
  message: string;
  retryAfterSeconds?: number;
  /** Unexpected: worth an error log with the cause (the sender sees a plain message). */
  internal: boolean;
}

/** gRPC codes for the google.rpc.Status body, by HTTP status (OTLP/HTTP and gRPC's HTTP mapping). */
const GRPC_CODE: Record<number, number> = {
  400: 3, // INVALID_ARGUMENT
  401: 16, // UNAUTHENTICATED
  403: 7, // PERMISSION_DENIED
  404: 5, // NOT_FOUND
  405: 12, // UNIMPLEMENTED
  408: 4, // DEADLINE_EXCEEDED
  413: 8, // RESOURCE_EXHAUSTED
  415: 3, // INVALID_ARGUMENT
  429: 8, // RESOURCE_EXHAUSTED
  431: 8, // RESOURCE_EXHAUSTED
  500: 13, // INTERNAL
  503: 14, // UNAVAILABLE
};

export const RETRY_AFTER_SECONDS = 5;

/** The one table from every failure to what the sender is told. */
export function toErrorReply(err: unknown): ErrorReply {
  const reply = (status: number, message: string, retryAfterSeconds?: number, internal = false): ErrorReply => ({
    status,
    grpcCode: GRPC_CODE[status] ?? 2,
    message,
    retryAfterSeconds,
    internal,
  });
  if (err instanceof HttpError) return reply(err.statusCode, err.message, err.retryAfterSeconds);
  if (err instanceof UndecodableBodyError || err instanceof ParamError) return reply(400, err.message);
  if (err instanceof TooManySpansError) return reply(413, err.message);
  if (err instanceof LedgerUnavailableError) {
    return reply(503, 'the ledger is unavailable; retry later', RETRY_AFTER_SECONDS, true);
  }
  // Nothing of the delivery was written: a retry succeeds once the thread is replaced.
  if (err instanceof PreparationThreadError) {
    return reply(503, 'the server could not take the delivery; retry later', RETRY_AFTER_SECONDS, true);
  }
  const e = err as { code?: string; statusCode?: number; message?: string };
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) return reply(400, 'body does not match its Content-Encoding');
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return reply(413, 'body is larger than this server accepts (raw or decompressed)');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return reply(415, 'unsupported Content-Type: send application/x-protobuf or application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return reply(400, e.message ?? 'bad request body');
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return reply(e.statusCode, e.message ?? 'bad request');
  }
  return reply(500, 'internal error', undefined, true);
}

/**
 * A request Node refuses before any route sees it (headers over its 16 KB, a request not in within
 * LEDGER_REQUEST_TIMEOUT_MS, malformed HTTP) is answered, as every other error, with a
 * google.rpc.Status in JSON (its encoding is not known), and the connection closed.
 */
export function clientErrorReply(err: NodeJS.ErrnoException, socket: Socket, timeoutMs: number): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, `the request did not arrive within ${timeoutMs} ms`]
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, `request headers are larger than this server accepts (${http.maxHeaderSize} bytes)`]
        : [400, 'malformed HTTP request'];
  const body = JSON.stringify({ code: GRPC_CODE[status] ?? 2, message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
