import { readdirSync, readFileSync } from 'node:fs';

/** Linux's clock ticks per second in /proc (USER_HZ), the same on every architecture it runs on. */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds the whole machine has spent busy (everything but idle and I/O wait) since boot,
 * from /proc/stat — what tells a saturated machine from a slow server. Null off Linux.
 */
export function machineBusySeconds(): number | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** CPU seconds this process (the load generator) has used so far. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** A process's or thread's command name and CPU seconds (user + system), from its `stat` file. */
function statCpu(path: string): { name: string; seconds: number } {
  const stat = readFileSync(path, 'utf8');
  // The name is in parentheses and may itself hold spaces, so fields count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
}

/** CPU seconds (user + system) process `pid` has used so far. */
export function processCpuSeconds(pid: number): number {
  return statCpu(`/proc/${pid}/stat`).seconds;
}

/** CPU seconds used so far, by thread or process id. */
export type CpuById = Map<number, number>;

/** A /proc entry's name and seconds, from the files under `path` (one reader per kind of seconds). */
type ProcReader = (path: string) => { name: string; seconds: number };

/** The seconds of each entry of a /proc directory listing that `keep` accepts; what ends while read is left out. */
function secondsById(dir: string, ids: string[], read: ProcReader, keep: (name: string) => boolean): CpuById {
  const seconds: CpuById = new Map();
  for (const id of ids) {
    try {
      const entry = read(`${dir}/${id}`);
      if (keep(entry.name)) seconds.set(Number(id), entry.seconds);
    } catch {
      // It ended between listing and reading.
    }
  }
  return seconds;
}

const cpuOf: ProcReader = (path) => statCpu(`${path}/stat`);

/**
 * Seconds a thread was ready to run but waited for a core (the second field of its `schedstat`):
 * on a machine whose cores are all in use, the share of a request's latency that is queueing for
 * the CPU rather than work.
 */
const runQueueOf: ProcReader = (path) => ({ name: '', seconds: Number(readFileSync(`${path}/schedstat`, 'utf8').split(' ')[1]) / 1e9 });

/** CPU seconds of each of a process's threads (its main thread's id is the process's). Null off Linux. */
export function threadCpuSeconds(pid: number): CpuById | null {
  return threadSeconds(pid, cpuOf);
}

/** Seconds each of a process's threads has waited for a core so far. Null off Linux, or without schedstat. */
export function threadRunQueueSeconds(pid: number): CpuById | null {
  return threadSeconds(pid, runQueueOf);
}

/** Seconds this process's main thread (the load generator's) has waited for a core so far. Null off Linux, or without schedstat. */
function ownRunQueueSeconds(): number | null {
  try {
    return runQueueOf(`/proc/${process.pid}/task/${process.pid}`).seconds;
  } catch {
    return null;
  }
}

function threadSeconds(pid: number, read: ProcReader): CpuById | null {
  try {
    const seconds = secondsById(`/proc/${pid}/task`, readdirSync(`/proc/${pid}/task`), read, () => true);
    // A kernel without the file gives no thread at all (a live process has at least one).
    return seconds.size > 0 ? seconds : null;
  } catch {
    return null;
  }
}

/**
 * CPU seconds of each Postgres process on this machine: the backends serving the ledger, and the
 * WAL writer, checkpointer and background writer that work for them. Null off Linux.
 */
export function postgresCpuSeconds(): CpuById | null {
  try {
    return secondsById('/proc', readdirSync('/proc').filter((p) => /^\d+$/.test(p)), cpuOf, (name) => name === 'postgres');
  } catch {
    return null;
  }
}

/**
 * The database runs on this machine (a loopback address, or a Unix socket: no host, or a path), so
 * its processes' CPU can be read here.
 */
export function isLocalDatabase(url: string): boolean {
  const u = new URL(url);
  const host = u.searchParams.get('host') ?? u.hostname;
  return host === '' || host.startsWith('/') || ['localhost', '127.0.0.1', '[::1]', '::1'].includes(host);
}

/** Where the machine's CPU went while a run's deliveries were handled, in µs per delivery. */
export interface CpuPerDelivery {
  /** The server's main thread: HTTP, keys, the ledger's round trips. */
  serving_thread: number | null;
  /**
   * Not CPU used: how long the serving thread was ready to run but waited for a core. Null where
   * the kernel does not say (off Linux, or without schedstat).
   */
  serving_thread_waiting_for_cpu: number | null;
  /** Its preparation threads, V8's garbage-collection helpers and libuv's pool. */
  other_server_threads: number | null;
  /** Null when Postgres is not on this machine, or (PGlite) runs inside the server. */
  postgres: number | null;
  load_generator: number;
  /**
   * How long the load generator's thread (this process's main thread: it sends, and times each
   * reply) waited for a core: a reply it read late is counted late. Null where the kernel does not say.
   */
  load_generator_waiting_for_cpu: number | null;
  machine: number | null;
}

export interface CpuSnapshot {
  serverPid: number;
  server: CpuById | null;
  serverRunQueue: CpuById | null;
  postgres: CpuById | null;
  loadGenerator: number;
  loadGeneratorRunQueue: number | null;
  machine: number | null;
}

/**
 * The CPU used so far by each part: the server's threads, Postgres (when `postgres`), this process,
 * the machine; and how long the server's threads and this process's main thread have waited for a core.
 */
export function cpuSnapshot(serverPid: number, postgres: boolean): CpuSnapshot {
  return {
    serverPid,
    server: threadCpuSeconds(serverPid),
    serverRunQueue: threadRunQueueSeconds(serverPid),
    postgres: postgres ? postgresCpuSeconds() : null,
    loadGenerator: ownCpuSeconds(),
    loadGeneratorRunQueue: ownRunQueueSeconds(),
    machine: machineBusySeconds(),
  };
}

/**
 * What each part spent per delivery between two snapshots, in whole µs. Each thread or process
 * counts from the first snapshot, or from its start if it began in between; one that ended in
 * between is left out (a pool closing an idle connection ends its backend, and must not take that
 * backend's whole past off the figure).
 */
export function cpuPerDelivery(before: CpuSnapshot, after: CpuSnapshot, deliveries: number): CpuPerDelivery {
  const us = (seconds: number | null) => (seconds === null ? null : Math.round((seconds * 1e6) / deliveries));
  const spent = (a: CpuById | null, b: CpuById | null, which: (id: number) => boolean = () => true): number | null => {
    if (a === null || b === null) return null;
    let total = 0;
    for (const [id, seconds] of b) if (which(id)) total += seconds - (a.get(id) ?? 0);
    return total;
  };
  const main = (id: number) => id === after.serverPid;
  return {
    serving_thread: us(spent(before.server, after.server, main)),
    serving_thread_waiting_for_cpu: us(spent(before.serverRunQueue, after.serverRunQueue, main)),
    other_server_threads: us(spent(before.server, after.server, (id) => !main(id))),
    postgres: us(spent(before.postgres, after.postgres)),
    load_generator: us(after.loadGenerator - before.loadGenerator)!,
    load_generator_waiting_for_cpu: us(
      before.loadGeneratorRunQueue === null || after.loadGeneratorRunQueue === null ? null : after.loadGeneratorRunQueue - before.loadGeneratorRunQueue,
    ),
    machine: us(before.machine === null || after.machine === null ? null : after.machine - before.machine),
  };
}
