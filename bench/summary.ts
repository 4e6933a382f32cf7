import { availableParallelism } from 'node:os';
import type { CpuPerDelivery } from './cpu.js';
import type { IngestStage } from '../src/http/metrics.js';
import type { CommitFloor } from './commit-floor.js';
import type { LatencyTail } from './load.js';
import { describeIdlePolling } from './idle-polling.js';
import type { WakeUp } from './wake-up.js';
import type { DenseRun } from './dense-bodies.js';

/** One saturated run of one variant. */
export interface VariantRow {
  variant: string;
  deliveries_per_s: number;
  spans_per_s: number;
  p50_ms: number;
  p99_ms: number;
  server_cpu_cores: number;
  load_generator_cpu_cores: number;
  /** Null off Linux (no /proc/stat). */
  machine_cpu_cores: number | null;
  body_bytes: number;
  cpu_us_per_delivery: CpuPerDelivery;
}

/** One paced run, each latency counted from the request's due time. */
export interface PacedRow extends LatencyTail {
  rate_per_s: number;
  achieved_per_s: number;
  /**
   * The share of these requests the server itself took longer than 50 ms over, by its own timing
   * (routing to reply written). Against p99: what a slow request waited before the server read it
   * (its thread busy or waiting for a core) or after, in the load generator.
   */
  server_share_over_50_ms: number;
  /**
   * The p50 and p99 of each stage inside the server (receive, prepare, commit), in ms, estimated
   * from its histogram's buckets.
   */
  server_stages_ms: Record<IngestStage, { p50: number; p99: number }>;
  cpu_us_per_delivery: CpuPerDelivery;
}

/** The bench's last line, its JSON: the fields other tools read. */
export interface BenchSummary {
  ledger: 'postgres' | 'pglite';
  server: 'compiled' | 'sources';
  concurrency: number;
  variants: VariantRow[];
  paced: PacedRow;
  paced_half_capacity: PacedRow;
  server_peak_rss_mb: number;
  raw_ceiling_deliveries_per_s: number;
  ratio_privacy_json_to_raw: number;
  writer_ceiling_deliveries_per_s: number;
  ratio_privacy_json_to_writer: number;
  http_ceiling_deliveries_per_s: number;
  http_ceiling_server_cpu_cores: number;
  ratio_privacy_json_to_http: number;
  /** The database's durable commit alone, one after another with nothing else running. */
  commit_floor: CommitFloor;
  /** A thread woken and waking back, one round trip after another, with nothing else running. */
  wake_up: WakeUp;
  ledger_check: { sent_deliveries: number; spans: number; generations: number; exact: boolean };
  /** Bodies of many minimal spans at once, on a server of their own; null with --dense-bodies 0. */
  dense: DenseRun | null;
}

/** The summary for people, before the JSON line. */
export function formatSummary(s: BenchSummary): string {
  const lines: string[] = [];
  for (const v of s.variants) {
    lines.push(`${v.variant.padEnd(18)} ${String(v.deliveries_per_s).padStart(7)} deliveries/s ${String(v.spans_per_s).padStart(7)} spans/s  p50 ${v.p50_ms} ms  p99 ${v.p99_ms} ms  server CPU ${v.server_cpu_cores} cores (load generator ${v.load_generator_cpu_cores}, whole machine ${v.machine_cpu_cores ?? '?'} of ${availableParallelism()})`);
    lines.push(formatCpu(v.cpu_us_per_delivery));
  }
  for (const p of [s.paced, s.paced_half_capacity]) {
    lines.push(`paced at ${p.rate_per_s}/s: ${formatTail(p)}; over 50 ms by the server's own timing: ${(p.server_share_over_50_ms * 100).toFixed(2)}%`);
    const stages = Object.entries(p.server_stages_ms).map(([stage, q]) => `${stage} ${q.p50} / ${q.p99} ms`);
    lines.push(`  inside the server, p50 / p99 by stage (from its histogram): ${stages.join(', ')}`);
    lines.push(formatCpu(p.cpu_us_per_delivery));
  }
  lines.push(`server peak RSS ${s.server_peak_rss_mb} MB`);
  lines.push(`raw ceiling (multi-row INSERT per 1,000 rows) ${s.raw_ceiling_deliveries_per_s} deliveries/s; privacy-json / raw = ${s.ratio_privacy_json_to_raw}`);
  lines.push(`writer ceiling (the ledger's COPY writer, no HTTP) ${s.writer_ceiling_deliveries_per_s} deliveries/s; privacy-json / writer = ${s.ratio_privacy_json_to_writer}`);
  lines.push(`HTTP ceiling (a bare Fastify route that only parses the same bodies) ${s.http_ceiling_deliveries_per_s} deliveries/s at ${s.http_ceiling_server_cpu_cores} cores; privacy-json / HTTP = ${s.ratio_privacy_json_to_http}`);
  const c = s.commit_floor;
  const flushed = c.flushed_before_ms === null ? `not first flushed to the disk (sync: ${c.flush_error})` : `after ${c.flushed_before_ms} ms flushing the bench's pending writes`;
  lines.push(`the database's durable commit alone (${c.commits} one-row transactions, one after another, ${flushed}): ${formatTail(c)}; over 50 ms: ${c.over_50_ms}`);
  const w = s.wake_up;
  lines.push(`a wake-up of another thread and back (${w.round_trips} round trips): p50 ${w.p50_us} µs, p99 ${w.p99_us} µs${describeIdlePolling(w)}`);
  lines.push(`ledger check: ${JSON.stringify(s.ledger_check)}`);
  const d = s.dense;
  if (d) {
    const size = `${(d.body_bytes / 1024 / 1024).toFixed(1)} MB`;
    lines.push(`dense bodies: ${d.bodies} of ${d.spans_per_body.toLocaleString('en')} minimal spans (protobuf, ${size} each) at once: ${d.accepted} of ${d.bodies} accepted in ${d.seconds} s, server peak RSS ${d.server_peak_rss_mb} MB; ledger ${d.exact ? 'exact' : 'NOT exact'}`);
  }
  return lines.join('\n');
}

function formatCpu(c: CpuPerDelivery): string {
  const us = (v: number | null) => (v === null ? 'n/a' : `${v} µs`);
  const waited = (v: number | null) => (v === null ? '' : ` (and ${v} µs waiting for a core)`);
  return `  CPU per delivery: serving thread ${us(c.serving_thread)}${waited(c.serving_thread_waiting_for_cpu)}, other server threads ${us(c.other_server_threads)}, Postgres ${us(c.postgres)}, load generator ${us(c.load_generator)}${waited(c.load_generator_waiting_for_cpu)}; whole machine ${us(c.machine)}`;
}

function formatTail(t: LatencyTail): string {
  return `p50 ${t.p50_ms} ms, p99 ${t.p99_ms} ms, p99.9 ${t.p999_ms} ms, max ${t.max_ms} ms`;
}
