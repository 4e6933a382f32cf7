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
    const before: CpuSnapshot = { serverPid: 10, server: new Map([[10, 10], [11, 3], [12, 1]]), postgres: new Map([[50, 20]]), loadGenerator: 1, machine: 100 };
    const after: CpuSnapshot = { serverPid: 10, server: new Map([[10, 10.25], [11, 3.08], [12, 1.02]]), postgres: new Map([[50, 20.3]]), loadGenerator: 1.08, machine: 100.9 };
    expect(cpuPerDelivery(before, after, 2_000)).toEqual({
      serving_thread: 125,
      other_server_threads: 50,
      postgres: 150,
      load_generator: 40,
      machine: 450,
    });
    const unmeasured: CpuSnapshot = { serverPid: 10, server: null, postgres: null, loadGenerator: 1, machine: null };
    expect(cpuPerDelivery(unmeasured, { ...unmeasured, loadGenerator: 1.5 }, 1_000)).toEqual({
      serving_thread: null,
      other_server_threads: null,
      postgres: null,
      load_generator: 500,
      machine: null,
    });
  });

  it('counts a process that began in between from its start, and leaves out one that ended', () => {
    // Backend 51 ends (its pool closed an idle connection) with 30 s behind it; 52 starts and uses 0.1 s.
    const before: CpuSnapshot = { serverPid: 10, server: new Map([[10, 1]]), postgres: new Map([[50, 5], [51, 30]]), loadGenerator: 0, machine: 0 };
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
});
