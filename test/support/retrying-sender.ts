import { post, type PostOptions } from './http.js';

const RETRYABLE = new Set([429, 502, 503, 504]);

/**
 * Sends a body as the OpenTelemetry exporters do: retries on 429/502/503/504 and on network errors
 * (with a short backoff here, to keep tests quick), gives up on any other status.
 */
export async function sendWithRetry(url: string, body: object, opts: PostOptions, deadlineMs = 60_000): Promise<{ status: number; attempts: number; statuses: number[] }> {
  const statuses: number[] = [];
  const until = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    let status = 0;
    try {
      const res = await post(url, body, opts);
      await res.arrayBuffer();
      status = res.status;
    } catch {
      status = 0;
    }
    statuses.push(status);
    if (status !== 0 && !RETRYABLE.has(status)) return { status, attempts: attempt, statuses };
    if (Date.now() > until) return { status, attempts: attempt, statuses };
    await new Promise((r) => setTimeout(r, Math.min(50 * attempt, 250)));
  }
}
