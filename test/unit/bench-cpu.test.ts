import { describe, expect, it } from 'vitest';
import { cpuPerDelivery, isLocalDatabase, threadCpuSeconds, type CpuSnapshot } from '../../bench/cpu.js';

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
    const before: CpuSnapshot = { server: { main: 10, others: 4 }, postgres: 20, loadGenerator: 1, machine: 100 };
    const after: CpuSnapshot = { server: { main: 10.25, others: 4.1 }, postgres: 20.3, loadGenerator: 1.08, machine: 100.9 };
    expect(cpuPerDelivery(before, after, 2_000)).toEqual({
      serving_thread: 125,
      other_server_threads: 50,
      postgres: 150,
      load_generator: 40,
      machine: 450,
    });
    const unmeasured: CpuSnapshot = { server: null, postgres: null, loadGenerator: 1, machine: null };
    expect(cpuPerDelivery(unmeasured, { ...unmeasured, loadGenerator: 1.5 }, 1_000)).toEqual({
      serving_thread: null,
      other_server_threads: null,
      postgres: null,
      load_generator: 500,
      machine: null,
    });
  });

  it.runIf(process.platform === 'linux')("splits a live process's CPU into its main thread and the rest", () => {
    const spin = performance.now() + 50;
    while (performance.now() < spin);
    const threads = threadCpuSeconds(process.pid)!;
    expect(threads.main).toBeGreaterThan(0);
    expect(threads.others).toBeGreaterThanOrEqual(0);
    expect(threadCpuSeconds(2 ** 22 + 1)).toBeNull();
  });
});
