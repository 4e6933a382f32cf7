import type { FastifyBaseLogger } from 'fastify';

/** How long the requests failing like the one logged are only counted. */
const REPEAT_WINDOW_MS = 10_000;

// Beyond this many kinds at once (a message carrying each request's own detail), every one is logged.
const MOST_KINDS = 100;

interface OpenKind {
  message: string;
  error: string;
  repeats: number;
  timer: NodeJS.Timeout;
}

/**
 * While Postgres is away every request fails alike: logged each with its stack, a restart of
 * Postgres under 500 deliveries/s wrote 1,497 error lines of five kinds. The first failure of a
 * kind (the reply's message and the error's) is logged in full; the requests failing the same way
 * in the next ten seconds are counted, and the count logged as one line when that window closes
 * (or the server stops).
 */
export class RepeatedErrorLog {
  readonly #log: FastifyBaseLogger;
  readonly #open = new Map<string, OpenKind>();

  constructor(log: FastifyBaseLogger) {
    this.#log = log;
  }

  error(requestLog: FastifyBaseLogger, err: unknown, message: string): void {
    const error = withCauses(err);
    const kind = `${message}\n${error}`;
    const open = this.#open.get(kind);
    if (open) {
      open.repeats++;
      return;
    }
    requestLog.error({ err }, message);
    if (this.#open.size >= MOST_KINDS) return;
    const timer = setTimeout(() => this.#close(kind), REPEAT_WINDOW_MS);
    timer.unref();
    this.#open.set(kind, { message, error, repeats: 0, timer });
  }

  /** Logs the counts of every window still open. */
  flush(): void {
    for (const kind of [...this.#open.keys()]) this.#close(kind);
  }

  #close(kind: string): void {
    const open = this.#open.get(kind);
    if (!open) return;
    clearTimeout(open.timer);
    this.#open.delete(kind);
    if (open.repeats > 0) {
      this.#log.error(
        { repeats: open.repeats, error: open.error, seconds: REPEAT_WINDOW_MS / 1000 },
        `${open.message} (${open.repeats} more ${open.repeats === 1 ? 'request' : 'requests'} failed the same way)`,
      );
    }
  }
}

/** The error's message and its causes' ("could not store the spans: connect ECONNREFUSED …"). */
function withCauses(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && parts.length < 5; e = e instanceof Error ? e.cause : undefined) {
    parts.push(e instanceof Error ? e.message : String(e));
  }
  return parts.join(': ');
}
