/**
 * The server's own timing of its ingest requests, read from its /metrics histogram
 * (`ledger_http_request_duration_seconds`: from routing to the reply written). Beside the load
 * generator's latency, which counts from each request's due time, it tells the server's share of
 * a slow request from the time the request waited before the server read it, or after.
 */
export interface ServerTimings {
  requests: number;
  /** Requests the server took at most `bound` seconds over. */
  withinBound: number;
}

const HISTOGRAM = 'ledger_http_request_duration_seconds';

export async function serverTimings(serverUrl: string, route: string, bound: string): Promise<ServerTimings> {
  const res = await fetch(`${serverUrl}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  let requests: number | undefined;
  let withinBound: number | undefined;
  for (const line of (await res.text()).split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels.route !== route) continue;
    if (m[1] === `${HISTOGRAM}_count`) requests = Number(m[3]);
    if (m[1] === `${HISTOGRAM}_bucket` && labels.le === bound) withinBound = Number(m[3]);
  }
  // A figure of 0 from a histogram that was not there would read as a fast server.
  if (requests === undefined || withinBound === undefined) throw new Error(`/metrics has no ${HISTOGRAM} bucket le="${bound}" for ${route}`);
  return { requests, withinBound };
}

/** The share of the requests between two readings that the server took longer than the bound over. */
export function shareOverBound(before: ServerTimings, after: ServerTimings): number {
  const requests = after.requests - before.requests;
  return requests === 0 ? 0 : (requests - (after.withinBound - before.withinBound)) / requests;
}
