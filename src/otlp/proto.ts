import path from 'node:path';
import protobuf from 'protobufjs';
import Long from 'long';
import { PROTO_DIR } from '../paths.js';

// protobufjs finds `long` by a CommonJS require that bundlers and ESM loaders may hide; hand it over so
// fixed64 nanoseconds decode exactly instead of as rounded doubles.
protobuf.util.Long = Long;
protobuf.configure();

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
  root.loadSync(['opentelemetry/proto/collector/trace/v1/trace_service.proto', 'google/rpc/status.proto'], {
    keepCase: false,
  });
  root.resolveAll();
  return root;
}

const root = loadRoot();

export const ExportTraceServiceRequest = root.lookupType(
  'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
);
export const ExportTraceServiceResponse = root.lookupType(
  'opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse',
);
export const RpcStatus = root.lookupType('google.rpc.Status');
