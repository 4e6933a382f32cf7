import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HALT_POLL_SETTING, wakeUpRoundTrip } from '../../bench/wake-up.js';

describe("the bench's wake-up round trip", () => {
  it('times round trips through a second thread and names the guest halt polling setting where there is one', async () => {
    const w = await wakeUpRoundTrip(0.3);
    expect(w.round_trips).toBeGreaterThan(10);
    expect(w.p50_us).toBeGreaterThan(0);
    expect(w.p99_us).toBeGreaterThanOrEqual(w.p50_us);
    // The trips run back to back and fill the 0.3 s. Half of them took the median or longer, so
    // the median times their number is at most twice that; far less only with a wrong unit.
    expect(w.round_trips * w.p50_us).toBeLessThan(2 * 0.3e6);
    expect(w.round_trips * w.p50_us).toBeGreaterThan(0.3e6 / 200);
    expect(w.guest_halt_poll_ns).toBe(existsSync(HALT_POLL_SETTING) ? Number(readFileSync(HALT_POLL_SETTING, 'utf8')) : null);
  });
});
