/**
 * Runs `task` now and then every `intervalMs` while the server runs, one run at a time (a run still
 * going when the next is due is not doubled). Returns the function that stops it, which waits for
 * a run under way, so that the ledger is not closed beneath it.
 */
export function runEvery(intervalMs: number, task: () => Promise<unknown>, onError: (err: unknown) => void): () => Promise<void> {
  let running: Promise<void> | null = null;
  const run = () => {
    running ??= task()
      .then(() => undefined, onError)
      .finally(() => (running = null));
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
