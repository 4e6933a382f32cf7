import { describe, expect, it } from 'vitest';
import { idlePolling } from '../../bench/idle-polling.js';
import { wakeUpRoundTrip } from '../../bench/wake-up.js';
import { runEntry } from '../support/cli.js';

describe("the bench's wake-up round trip", () => {
  it('times round trips through a second thread and names how the idle cores wait', async () => {
    const w = await wakeUpRoundTrip(0.3);
    expect(w.round_trips).toBeGreaterThan(10);
    expect(w.p50_us).toBeGreaterThan(0);
    expect(w.p99_us).toBeGreaterThanOrEqual(w.p50_us);
    // The trips run back to back and fill the 0.3 s. Half of them took the median or longer, so
    // the median times their number is at most twice that; far less only with a wrong unit.
    expect(w.round_trips * w.p50_us).toBeLessThan(2 * 0.3e6);
    expect(w.round_trips * w.p50_us).toBeGreaterThan(0.3e6 / 200);
    expect({ cpuidle_driver: w.cpuidle_driver, guest_halt_poll_ns: w.guest_halt_poll_ns }).toEqual(idlePolling());
  });

  it('gives up with a reason when the second thread never answers, and ends that thread', async () => {
    const asleep = `const { workerData: s } = require('node:worker_threads'); for (;;) Atomics.wait(s, 1, 0);`;
    const started = performance.now();
    await expect(wakeUpRoundTrip(5, { answerer: asleep, answerWithinMs: 200 })).rejects.toThrow(
      'the wake-up round trip: the second thread did not answer within 0.2 s',
    );
    // It gave up after the one wait, not after the 5 s it was asked to run.
    expect(performance.now() - started).toBeLessThan(4_000);
  });

  it('keeps its answer window after the commit floor on in-process PGlite, in a process of its own', async () => {
    // Those commits resolve without the event loop turning, so its cached time falls seconds
    // behind: a timeout counted from it ended before the second thread had loaded.
    const { code, stdout } = await runEntry('test/support/wake-up-after-commit-floor.ts', [], {});
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ round_trips: expect.any(Number) });
  });

  it("reports a second thread that dies by that thread's own error", async () => {
    const dying = `throw new Error('the answerer broke')`;
    // However long the thread takes to load on a busy machine, its error comes before the answer
    // window ends, and is what is reported.
    await expect(wakeUpRoundTrip(5, { answerer: dying })).rejects.toThrow('the answerer broke');
  });
});
