import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockPath } from '../../src/ledger/data-dir-lock.js';

const lockModule = new URL('../../src/ledger/data-dir-lock.ts', import.meta.url).href;
/**
 * Reads of the lock while held. Created empty and filled after, as before 7fa9c4b, it read empty in
 * a quarter to a third of them.
 */
const HELD_READS = 2_000;

describe('the embedded ledger lock', () => {
  it('is never seen empty by another process (read empty, it would pass for a dead holder and be taken over)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ledger-lock-'));
    // The churner stops when this file appears: the test reads until it has seen the lock held
    // often enough, however slowly a loaded machine lets either process run.
    const stop = path.join(dir, 'stop');
    try {
      // Another process takes and gives back the lock as fast as it can.
      const churn = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', `const { acquireLock } = await import(${JSON.stringify(lockModule)}); const { existsSync } = await import('node:fs'); const end = Date.now() + 50_000; while (!existsSync(${JSON.stringify(stop)}) && Date.now() < end) acquireLock(${JSON.stringify(dir)})();`],
        { stdio: 'inherit' },
      );
      const exited = new Promise<number | null>((resolve) => churn.once('exit', resolve));
      let running = true;
      void exited.then(() => (running = false));
      let seen = 0;
      let empty = 0;
      while (running && seen < HELD_READS) {
        try {
          if (readFileSync(lockPath(dir), 'utf8') === '') empty++;
          seen++;
        } catch {
          // Not held at this moment.
        }
        await new Promise((r) => setImmediate(r));
      }
      writeFileSync(stop, '');
      expect(await exited).toBe(0);
      expect(seen).toBe(HELD_READS);
      expect(empty).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
