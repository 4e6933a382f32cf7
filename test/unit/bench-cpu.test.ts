import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { cpuPerDelivery, isLocalDatabase, threadCpuSeconds, threadRunQueueSeconds, type CpuSnapshot } from '../../bench/cpu.js';

describe("the bench's CPU accounting", () => {
  it('tells a database on this machine from one elsewhere', () => {
    for (const url of ['postgres://postgres@127.0.0.1:5432/test', 'postgresql://u@localhost/db', 'postgres://u@[::1]:5432/db', 'postgres:///db', 'postgres://u@localhost/db?host=/var/run/postgresql']) {
      expect(isLocalDatabase(url), url).toBe(true);
    }
    for (const url of ['postgres://u@db.internal:5432/ledger', 'postgres://u@10.0.0.5/db', 'postgres://u@127.0.0.1/db?host=db.example.com']) {
      expect(isLocalDatabase(url), url).toBe(false);
    }
  });

  it('gives each part µs per delivery, and n/a where a part was not measured', () => {
    const before: CpuSnapshot = { serverPid: 10, server: new Map([[10, 10], [11, 3], [12, 1]]), serverRunQueue: new Map([[10, 4], [11, 1]]), postgres: new Map([[50, 20]]), loadGenerator: 1, loadGeneratorRunQueue: 3, machine: 100 };
    const after: CpuSnapshot = { serverPid: 10, server: new Map([[10, 10.25], [11, 3.08], [12, 1.02]]), serverRunQueue: new Map([[10, 4.2], [11, 1.5]]), postgres: new Map([[50, 20.3]]), loadGenerator: 1.08, loadGeneratorRunQueue: 3.06, machine: 100.9 };
    expect(cpuPerDelivery(before, after, 2_000)).toEqual({
      serving_thread: 125,
      serving_thread_waiting_for_cpu: 100,
      other_server_threads: 50,
      postgres: 150,
      load_generator: 40,
      load_generator_waiting_for_cpu: 30,
      machine: 450,
    });
    const unmeasured: CpuSnapshot = { serverPid: 10, server: null, serverRunQueue: null, postgres: null, loadGenerator: 1, loadGeneratorRunQueue: null, machine: null };
    expect(cpuPerDelivery(unmeasured, { ...unmeasured, loadGenerator: 1.5 }, 1_000)).toEqual({
      serving_thread: null,
      serving_thread_waiting_for_cpu: null,
      other_server_threads: null,
      postgres: null,
      load_generator: 500,
      load_generator_waiting_for_cpu: null,
      machine: null,
    });
  });

  it('counts a process that began in between from its start, and leaves out one that ended', () => {
    // Backend 51 ends (its pool closed an idle connection) with 30 s behind it; 52 starts and uses 0.1 s.
    const before: CpuSnapshot = { serverPid: 10, server: new Map([[10, 1]]), serverRunQueue: null, postgres: new Map([[50, 5], [51, 30]]), loadGenerator: 0, loadGeneratorRunQueue: 0, machine: 0 };
    const after: CpuSnapshot = { ...before, postgres: new Map([[50, 5.2], [52, 0.1]]) };
    expect(cpuPerDelivery(before, after, 1_000).postgres).toBe(300);
  });

  it.runIf(process.platform === 'linux')("reads the CPU of each of a live process's threads, its main thread among them", () => {
    const spin = performance.now() + 50;
    while (performance.now() < spin);
    const threads = threadCpuSeconds(process.pid)!;
    expect(threads.get(process.pid)).toBeGreaterThan(0);
    expect(threads.size).toBeGreaterThan(1);
    expect(threadCpuSeconds(2 ** 22 + 1)).toBeNull();
  });

  it.runIf(process.platform === 'linux')('reads how long a thread waited for a core: with its running time, all of a busy spell', async () => {
    // One spinning thread per core, and this one spinning too: more runnable threads than cores,
    // so some wait at every moment. This thread is runnable all along, so the time it ran and the
    // time it waited add up to the spell's length.
    const spin = (ms: number) => `const end = Date.now() + ${ms}; while (Date.now() < end);`;
    const spinners = Array.from({ length: availableParallelism() }, () => new Worker(spin(1_000), { eval: true }));
    await new Promise((r) => setTimeout(r, 100));
    const ran0 = threadCpuSeconds(process.pid)!.get(process.pid)!;
    const waited0 = threadRunQueueSeconds(process.pid)!.get(process.pid)!;
    const t0 = performance.now();
    while (performance.now() < t0 + 800);
    const spell = (performance.now() - t0) / 1000;
    const ran = threadCpuSeconds(process.pid)!.get(process.pid)! - ran0;
    const waited = threadRunQueueSeconds(process.pid)!.get(process.pid)! - waited0;
    await Promise.all(spinners.map((w) => new Promise((resolve) => w.once('exit', resolve))));
    expect(waited).toBeGreaterThan(0);
    // The CPU figure counts in 10 ms ticks.
    expect(Math.abs(ran + waited - spell)).toBeLessThan(0.03 + 0.05 * spell);
    expect(threadRunQueueSeconds(2 ** 22 + 1)).toBeNull();
  });
});
