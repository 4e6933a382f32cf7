import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { processCpuSeconds } from './cpu.js';

const root = fileURLToPath(new URL('../', import.meta.url));

export interface ServerProcess {
  url: string;
  pid: number;
  /** Everything the process wrote to stdout and stderr (when started with `capture`). */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** CPU seconds (user + system) the server has used so far. */
  cpuSeconds(): number;
  /** Peak resident memory so far, in MB. */
  peakRssMb(): number;
  stop(): Promise<void>;
}

/** Every server started here and not yet exited, to stop however the bench ends. */
const running = new Set<() => Promise<void>>();
let stopping = false;

/**
 * Stops every server started here, and refuses to start more: a bench that fails or is
 * interrupted must not leave a server running, listening and holding its ledger.
 */
export async function stopServerProcesses(): Promise<void> {
  stopping = true;
  await Promise.all([...running].map((stop) => stop()));
}

/**
 * As `npm start` and the container image start the server (a unit test holds the three alike).
 * V8 sizes the young generation by the machine's memory, 16 MB a semi-space on Node 20 here and
 * 32 MB on Node 24, in the serving thread and again in each preparation thread. With 32 MB the
 * server peaked over 300 MB, with 16 at up to 299.5 MB on Node 24; 8 MB cost no throughput
 * measured (bench/README.md, "A thirteenth machine"). The container's Node 26 is started alike.
 */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=8'];

/** A server that does not drain within this long after SIGTERM is killed. */
const STOP_GRACE_MS = 10_000;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}

/**
 * Starts the server as its own process, so its CPU and memory are its own: from the sources
 * through tsx, as `npm start` does, or `compiled` (`dist/`, built by `npm run build`) as the
 * container image runs it. `script`: another server to run from source instead (it must answer
 * GET /readyz).
 */
export async function startServerProcess(
  env: Record<string, string>,
  opts: { nodeArgs?: string[]; capture?: boolean; compiled?: boolean; script?: string } = {},
): Promise<ServerProcess> {
  if (stopping) throw new Error('the bench is stopping: no server is started');
  const port = await freePort();
  const entry = opts.compiled ? ['dist/src/main.js'] : ['--import', 'tsx', opts.script ?? 'src/main.ts'];
  const child: ChildProcess = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...(opts.nodeArgs ?? []), ...entry], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', opts.capture ? 'pipe' : 'inherit', opts.capture ? 'pipe' : 'inherit'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString('utf8')));
  // 'close', not 'exit': only 'close' comes after the process's output has all been read, so a
  // caller reading output() once it has exited sees every line.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(kill);
  };
  running.add(stop);
  void exited.then(() => running.delete(stop));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
      try {
        if ((await fetch(`${url}/readyz`)).ok) break;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error('server did not become ready in 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const pid = child.pid!;
  return {
    url,
    pid,
    output: () => output,
    exited,
    cpuSeconds: () => processCpuSeconds(pid),
    peakRssMb() {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : NaN;
    },
    stop,
  };
}
