/**
 * Runs `task` now and then every `intervalMs` while the server runs, one run at a time (a run still
 * going when the next is due is not doubled). Returns the function that stops it: it aborts the
 * signal given to the task and waits for a run under way, so that the ledger is not closed beneath it.
 */
export function runEvery(
  intervalMs: number,
  task: (signal: AbortSignal) => Promise<unknown>,
  onError: (err: unknown) => void,
): () => Promise<void> {
  const stopping = new AbortController();
  let running: Promise<void> | null = null;
  const run = () => {
    running ??= task(stopping.signal)
      .then(() => undefined, onError)
      .finally(() => (running = null));
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    stopping.abort();
    await running;
  };
}
