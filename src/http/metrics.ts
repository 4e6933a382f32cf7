import client from 'prom-client';
import type { Rejection } from '../otlp/model.js';
import type { StagedSpan } from '../ledger/copy-rows.js';
import type { WriterEvents } from '../ledger/ledger-writer.js';
import { addDecimals } from '../spend/decimal.js';

export const INGEST_STAGES = ['receive', 'prepare', 'commit'] as const;
export type IngestStage = (typeof INGEST_STAGES)[number];

/** The service's Prometheus metrics, on a registry of its own (several servers may share a process). */
export class Metrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({
    name: 'ledger_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly requestSeconds = new client.Histogram({
    name: 'ledger_http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  /**
   * Where an accepted delivery's time went inside the server: `receive` (routing to the body in
   * hand: key check, body read and inflated), `prepare` (decoded and its rows built, on a
   * preparation thread: the hand-over both ways included), `commit` (waiting for its group-commit
   * transaction, and in it, up to the commit). Finer buckets than the request histogram's, to
   * tell a stage's tail from another's.
   */
  readonly stageSeconds = new client.Histogram({
    name: 'ledger_ingest_stage_duration_seconds',
    help: 'Time of each stage of an ingest request inside the server',
    labelNames: ['stage'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  /**
   * The stages' histograms, bound once (a label lookup per observation would cost on the hot
   * path), and shown from the start, at zero.
   */
  readonly stage = Object.fromEntries(
    INGEST_STAGES.map((stage) => {
      this.stageSeconds.zero({ stage });
      return [stage, this.stageSeconds.labels(stage)];
    }),
  ) as Record<IngestStage, client.Histogram.Internal<'stage'>>;
  readonly accepted = new client.Counter({
    name: 'ledger_spans_accepted_total',
    help: 'Spans accepted and committed',
    registers: [this.registry],
  });
  readonly rejected = new client.Counter({
    name: 'ledger_spans_rejected_total',
    help: 'Spans (or other body items) refused, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly generations = new client.Counter({
    name: 'ledger_generations_received_total',
    help: 'Spans carrying usage received (before de-duplication and roll-up detection)',
    registers: [this.registry],
  });
  readonly usd = new client.Counter({
    name: 'ledger_usd_received_total',
    help: 'USD of positive costs on received usage spans (before de-duplication; the ledger views are the exact figures)',
    registers: [this.registry],
  });
  readonly writeSeconds = new client.Histogram({
    name: 'ledger_write_duration_seconds',
    help: 'Time of one group-commit transaction',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly writeBatchRequests = new client.Histogram({
    name: 'ledger_write_batch_requests',
    help: 'Requests per group-commit transaction',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [this.registry],
  });

  readonly writeRewrites = new client.Counter({
    name: 'ledger_write_rewrites_total',
    help: 'Group-commit batches written again: duplicate (spans the ledger already held) or split (request by request after a data error)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  spansAccepted(spans: StagedSpan[]): void {
    this.accepted.inc(spans.length);
    const costs: string[] = [];
    for (const s of spans) {
      if (s.usageRow === null) continue;
      this.generations.inc();
      // A counter only grows: credits (negative costs) are in the ledger, not in this dashboard figure.
      if (s.costUsd !== null && !s.costUsd.startsWith('-')) costs.push(s.costUsd);
    }
    // This counter is for dashboards only; the ledger itself never sums doubles.
    if (costs.length > 0) this.usd.inc(Number(addDecimals(costs)));
  }

  spansRejected(rejected: Rejection[]): void {
    for (const r of rejected) this.rejected.inc({ reason: r.reason });
  }

  /** The ledger writer's events. */
  readonly writer: WriterEvents = {
    written: (seconds, requests) => {
      this.writeSeconds.observe(seconds);
      this.writeBatchRequests.observe(requests);
    },
    rewritten: (reason) => this.writeRewrites.inc({ reason }),
  };

  /** Pool saturation and the requests in hand, read when scraped. */
  trackPool(
    pool: { totalCount: number; idleCount: number; waitingCount: number } | undefined,
    pending: () => number,
    preparing: () => number,
  ): void {
    new client.Gauge({
      name: 'ledger_db_pool_connections',
      help: 'Database pool connections by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        if (!pool) return;
        this.set({ state: 'total' }, pool.totalCount);
        this.set({ state: 'idle' }, pool.idleCount);
        this.set({ state: 'waiting' }, pool.waitingCount);
      },
    });
    this.gauge('ledger_write_pending_requests', 'Requests waiting for or inside a group-commit transaction', pending);
    this.gauge('ledger_prepare_pending_requests', 'Requests handed to a preparation thread and not yet back', preparing);
  }

  /** The body budget: bytes held, and deliveries waiting for room before their bodies are read. */
  trackBodies(budget: { bytesHeld: number; waiting: number }): void {
    this.gauge('ledger_body_bytes_in_flight', 'Bytes of request bodies (as sent) being read or handled', () => budget.bytesHeld);
    this.gauge('ledger_body_waiting_requests', 'Deliveries waiting for room in the body budget before their bodies are read', () => budget.waiting);
  }

  private gauge(name: string, help: string, read: () => number): void {
    new client.Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }
}
