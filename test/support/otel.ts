import { context, trace, type Attributes, type Span } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

/** Spans made by the real OpenTelemetry SDK, kept in memory until a test exports them. */
export function recorder(serviceName = 'agent-app') {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('ledger-tests', '1.0.0');
  return {
    start(name: string, attributes: Attributes, parent?: Span): Span {
      const ctx = parent ? trace.setSpan(context.active(), parent) : context.active();
      return tracer.startSpan(name, { attributes }, ctx);
    },
    finished(): ReadableSpan[] {
      return memory.getFinishedSpans();
    },
    reset(): void {
      memory.reset();
    },
  };
}

export type Encoding = 'protobuf' | 'json';

/** Sends spans with the real OTLP/HTTP exporter and resolves with its export result. */
export async function exportSpans(
  url: string,
  key: string,
  spans: ReadableSpan[],
  opts: { encoding: Encoding; gzip: boolean },
): Promise<ExportResult> {
  const config = {
    url,
    headers: { Authorization: `Bearer ${key}` },
    compression: opts.gzip ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
    timeoutMillis: 10_000,
  };
  const exporter = opts.encoding === 'protobuf' ? new ProtoExporter(config) : new JsonExporter(config);
  try {
    return await new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));
  } finally {
    await exporter.shutdown();
  }
}

export { ExportResultCode };
