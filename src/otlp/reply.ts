import { ExportTraceServiceResponse, RpcStatus } from './proto.js';

export type Encoding = 'protobuf' | 'json';

export const CONTENT_TYPES: Record<Encoding, string> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

export interface PartialSuccess {
  rejectedSpans: number;
  errorMessage: string;
}

/** The success reply; `partial` only when some spans were refused (OTLP partial success). */
export function encodeExportResponse(encoding: Encoding, partial?: PartialSuccess): Buffer | string {
  if (encoding === 'json') {
    return JSON.stringify(
      partial
        ? { partialSuccess: { rejectedSpans: String(partial.rejectedSpans), errorMessage: partial.errorMessage } }
        : {},
    );
  }
  const message = ExportTraceServiceResponse.create(partial ? { partialSuccess: partial } : {});
  return Buffer.from(ExportTraceServiceResponse.encode(message).finish());
}

/** A google.rpc.Status body, as the OTLP/HTTP specification asks of every error reply. */
export function encodeStatus(encoding: Encoding, grpcCode: number, message: string): Buffer | string {
  if (encoding === 'json') return JSON.stringify({ code: grpcCode, message });
  return Buffer.from(RpcStatus.encode(RpcStatus.create({ code: grpcCode, message })).finish());
}
