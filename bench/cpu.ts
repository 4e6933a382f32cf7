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

/**
 * CPU seconds of a process's threads: its main thread (for the server, the one serving HTTP and
 * the ledger's round trips) and all the others together (preparation threads, V8's garbage
 * collection helpers, libuv's pool). Null off Linux.
 */
export function threadCpuSeconds(pid: number): { main: number; others: number } | null {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  let main = 0;
  let others = 0;
  for (const tid of tasks) {
    try {
      const { seconds } = statCpu(`/proc/${pid}/task/${tid}/stat`);
      if (tid === String(pid)) main = seconds;
      else others += seconds;
    } catch {
      // The thread ended between listing and reading; what it used is lost with it.
    }
  }
  return { main, others };
}

/**
 * CPU seconds used so far by every Postgres process on this machine: the backends serving the
 * ledger, and the WAL writer, checkpointer and background writer that work for them. Null off
 * Linux; 0 when no Postgres runs here.
 */
export function postgresCpuSeconds(): number | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return null;
  }
  let seconds = 0;
  for (const pid of pids) {
    try {
      const cpu = statCpu(`/proc/${pid}/stat`);
      if (cpu.name === 'postgres') seconds += cpu.seconds;
    } catch {
      // The process ended between listing and reading.
    }
  }
  return seconds;
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
  serving_thread: number | null;
  other_server_threads: number | null;
  /** Null when Postgres is not on this machine, or (PGlite) runs inside the server. */
  postgres: number | null;
  load_generator: number;
  machine: number | null;
}

export interface CpuSnapshot {
  server: { main: number; others: number } | null;
  postgres: number | null;
  loadGenerator: number;
  machine: number | null;
}

/** The CPU used so far by each part: the server's threads, Postgres (when `postgres`), this process, the machine. */
export function cpuSnapshot(serverPid: number, postgres: boolean): CpuSnapshot {
  return {
    server: threadCpuSeconds(serverPid),
    postgres: postgres ? postgresCpuSeconds() : null,
    loadGenerator: ownCpuSeconds(),
    machine: machineBusySeconds(),
  };
}

/** What each part spent per delivery between two snapshots, in whole µs. */
export function cpuPerDelivery(before: CpuSnapshot, after: CpuSnapshot, deliveries: number): CpuPerDelivery {
  const us = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined ? null : Math.round(((b - a) * 1e6) / deliveries);
  return {
    serving_thread: us(before.server?.main, after.server?.main),
    other_server_threads: us(before.server?.others, after.server?.others),
    postgres: us(before.postgres, after.postgres),
    load_generator: us(before.loadGenerator, after.loadGenerator)!,
    machine: us(before.machine, after.machine),
  };
}
