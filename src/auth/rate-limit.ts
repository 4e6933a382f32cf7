/**
 * A token bucket per key: `ratePerSecond` sustained, bursts up to one second's worth. Memory only,
 * per server process: it protects this process's ledger writes from one runaway sender.
 */
export class KeyRateLimiter {
  #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly ratePerSecond: number) {}

  /** Takes one request's token; returns 0 when allowed, else the seconds to wait before retrying. */
  take(keyId: string, now = performance.now()): number {
    if (this.ratePerSecond <= 0) return 0;
    const b = this.#buckets.get(keyId) ?? { tokens: this.ratePerSecond, at: now };
    b.tokens = Math.min(this.ratePerSecond, b.tokens + ((now - b.at) / 1000) * this.ratePerSecond);
    b.at = now;
    this.#buckets.set(keyId, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.ratePerSecond));
  }
}
