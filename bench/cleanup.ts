/**
 * What a bench run must undo however it ends — finished, failed or interrupted. It works in the
 * user's own database and temp directory and starts servers of its own; none of them may outlive it.
 */
export class Cleanup {
  private readonly steps: { what: string; undo: () => Promise<void> | void }[] = [];
  private running: Promise<string[]> | null = null;
  private readonly stepLimitMs: number;

  /**
   * `stepLimitMs`: how long one step may take before it is given up and the next one runs; a
   * bench must end, and say what it left, even when the database or a server stops answering.
   */
  constructor(opts: { stepLimitMs?: number } = {}) {
    this.stepLimitMs = opts.stepLimitMs ?? 60_000;
  }

  /**
   * Registers a step (`what` says what it does: "drop schema x"), to run after every step
   * registered later: what was made last is undone first, a server before the schema it writes
   * to. Refused once cleaning up has begun, so nothing is made that no step would undo.
   */
  add(what: string, undo: () => Promise<void> | void): void {
    if (this.running) throw new Error('the bench is stopping: it makes nothing more');
    this.steps.push({ what, undo });
  }

  /**
   * Runs every step once (a second call gets the first's outcome): what could not be undone, and
   * why. A step given up may still be running; whoever exits must not wait for it.
   */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const failed: string[] = [];
      for (const step of this.steps.reverse()) {
        let timer: NodeJS.Timeout | undefined;
        const limit = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not finish within ${this.stepLimitMs / 1000} s`)), this.stepLimitMs);
        });
        try {
          await Promise.race([(async () => step.undo())(), limit]);
        } catch (err) {
          failed.push(`${step.what}: ${(err as Error).message}`);
        } finally {
          clearTimeout(timer);
        }
      }
      return failed;
    })();
    return this.running;
  }
}
