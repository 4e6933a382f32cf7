import { Transform, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import contentType from 'content-type';
import type { FastifyRequest } from 'fastify';
import type { Encoding } from '../otlp/reply.js';
import { HttpError } from './errors.js';

const PROTOBUF_TYPES = new Set(['application/x-protobuf', 'application/protobuf']);
const JSON_TYPES = new Set(['application/json']);
export const BODY_TYPES = [...PROTOBUF_TYPES, ...JSON_TYPES];

function mediaType(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The encoding of the request, which is also the encoding of the reply (JSON when unknown). */
export function requestEncoding(request: FastifyRequest): Encoding {
  return PROTOBUF_TYPES.has(mediaType(request)) ? 'protobuf' : 'json';
}

export function unsupportedContentType(request: FastifyRequest): HttpError {
  return new HttpError(415, `unsupported Content-Type "${mediaType(request)}": send application/x-protobuf or application/json`);
}

export function assertBodyType(request: FastifyRequest): void {
  const type = mediaType(request);
  if (PROTOBUF_TYPES.has(type)) return;
  if (!JSON_TYPES.has(type)) throw unsupportedContentType(request);
  assertUtf8(request.headers['content-type']!);
}

/**
 * OTLP/JSON is UTF-8 (RFC 8259 §8.1): a body declared in another charset would be read as UTF-8
 * anyway, its é and ü turned into U+FFFD in user ids and metadata, so it is refused instead.
 */
function assertUtf8(header: string): void {
  let charset: string | undefined;
  try {
    charset = contentType.parse(header).parameters.charset;
  } catch {
    // Parameters that do not parse say no charset; the media type alone was accepted before.
    return;
  }
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new HttpError(415, `unsupported charset "${charset}": OTLP/JSON bodies are UTF-8`);
  }
}

const DECOMPRESSORS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
};

/**
 * Returns the body stream to parse: the request itself, or its decompression when it has a
 * Content-Encoding. Decompressed output is counted as it streams and cut off past `limit`, so a
 * gzip bomb is refused after inflating at most `limit` bytes and nothing is buffered past that.
 */
export function decodedBody(request: FastifyRequest, payload: Readable, limit: number): Readable {
  const encoding = String(request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return payload;
  const make = DECOMPRESSORS[encoding];
  if (!make) throw new HttpError(415, `unsupported Content-Encoding "${encoding}": send gzip, deflate or none`);

  const inflate = make();
  let raw = 0;
  let inflated = 0;
  const limited = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      inflated += chunk.length;
      if (inflated > limit) {
        stop();
        callback(new HttpError(413, `decompressed body is larger than ${limit} bytes`));
        return;
      }
      callback(null, chunk);
    },
  }) as Transform & { receivedEncodedLength: number };
  limited.receivedEncodedLength = 0;

  // The request stream is never destroyed here: the sender must still receive its error reply.
  const stop = () => {
    payload.unpipe(inflate);
    inflate.destroy();
    payload.resume();
  };
  payload.on('data', (chunk: Buffer) => {
    raw += chunk.length;
    limited.receivedEncodedLength = raw;
    if (raw > limit) {
      stop();
      limited.destroy(new HttpError(413, `body is larger than ${limit} bytes`));
    }
  });
  inflate.on('error', (err) => limited.destroy(err));
  payload.pipe(inflate).pipe(limited);
  return limited;
}
