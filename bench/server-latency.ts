import { INGEST_STAGES, type IngestStage } from '../src/http/metrics.js';

/**
 * The server's own timing of its ingest requests, read from its /metrics histograms. Beside the
 * load generator's latency, which counts from each request's due time, they tell the server's
 * share of a slow request from the time the request waited before the server read it, or after;
 * and, stage by stage, where inside the server the time went.
 */

/** A histogram's cumulative counts by upper bound (`+Inf` as Infinity), as scraped. */
export type Buckets = Map<number, number>;

export interface ServerTimings {
  /** The ingest route's requests: routing to the reply written (`ledger_http_request_duration_seconds`). */
  requests: Buckets;
  /** Each stage of an accepted delivery (`ledger_ingest_stage_duration_seconds`). */
  stages: Record<IngestStage, Buckets>;
}

const REQUESTS = 'ledger_http_request_duration_seconds';
const STAGE = 'ledger_ingest_stage_duration_seconds';

export async function serverTimings(serverUrl: string, route: string, metricsToken: string): Promise<ServerTimings> {
  const res = await fetch(`${serverUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  return {
    requests: buckets(text, REQUESTS, 'route', route),
    stages: Object.fromEntries(INGEST_STAGES.map((s) => [s, buckets(text, STAGE, 'stage', s)])) as Record<IngestStage, Buckets>,
  };
}

function buckets(text: string, histogram: string, label: string, value: string): Buckets {
  const found: Buckets = new Map();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m?.[1] !== `${histogram}_bucket`) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels[label] === value) found.set(labels.le === '+Inf' ? Infinity : Number(labels.le), Number(m[3]));
  }
  // Figures of 0 from a histogram that was not there would read as a fast server.
  if (!found.has(Infinity)) throw new Error(`/metrics has no ${histogram} for ${label}="${value}"`);
  return found;
}

/** The counts observed between two scrapes of one histogram. */
function between(before: Buckets, after: Buckets): [bound: number, count: number][] {
  return [...after].map(([le, n]) => [le, n - (before.get(le) ?? 0)] as [number, number]).sort((a, b) => a[0] - b[0]);
}

/** The share of the requests between two scrapes that the server took longer than `bound` seconds over. */
export function shareOverBound(before: Buckets, after: Buckets, bound: number): number {
  const counts = between(before, after);
  const within = counts.find(([le]) => le === bound);
  if (!within) throw new Error(`the histogram has no bucket at ${bound} s`);
  const total = counts[counts.length - 1]![1];
  return total === 0 ? 0 : (total - within[1]) / total;
}

/**
 * The q-quantile (0–1) of what was observed between two scrapes, in seconds: within its bucket by
 * linear interpolation, as Prometheus's `histogram_quantile` reckons it, so only as fine as the
 * buckets. In the last bucket (past every finite bound) it is that bound; NaN when nothing was
 * observed.
 */
export function quantile(before: Buckets, after: Buckets, q: number): number {
  const counts = between(before, after);
  const total = counts[counts.length - 1]![1];
  if (total === 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, n] of counts) {
    if (le === Infinity) break;
    if (n >= rank) return lower + ((le - lower) * (rank - below)) / (n - below);
    lower = le;
    below = n;
  }
  // Past every finite bound: the last of them.
  return lower;
}
