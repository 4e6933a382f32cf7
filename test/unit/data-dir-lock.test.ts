import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockPath } from '../../src/ledger/data-dir-lock.js';

const lockModule = new URL('../../src/ledger/data-dir-lock.ts', import.meta.url).href;

describe('the embedded ledger lock', () => {
  it('is never seen empty by another process (read empty, it would pass for a dead holder and be taken over)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ledger-lock-'));
    try {
      // Another process takes and gives back the lock as fast as it can for a second.
      const churn = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', `const { acquireLock } = await import(${JSON.stringify(lockModule)}); const end = Date.now() + 1000; while (Date.now() < end) acquireLock(${JSON.stringify(dir)})();`],
        { stdio: 'inherit' },
      );
      const exited = new Promise<number | null>((resolve) => churn.once('exit', resolve));
      let running = true;
      void exited.then(() => (running = false));
      let seen = 0;
      let empty = 0;
      while (running) {
        try {
          if (readFileSync(lockPath(dir), 'utf8') === '') empty++;
          seen++;
        } catch {
          // Not held at this moment.
        }
        await new Promise((r) => setImmediate(r));
      }
      expect(await exited).toBe(0);
      expect(seen).toBeGreaterThan(100);
      expect(empty).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
