import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { startTestServer } from '../support/test-server.js';

// Whatever ledger the suite runs against, this is about the embedded one's files (a ledger of
// DATA_DIR alone is embedded).
it('the embedded ledger directory is owner-only, new or not, though PGlite makes its files writable by all', async () => {
  const parent = mkdtempSync(path.join(tmpdir(), 'ledger-dir-'));
  const existing = path.join(parent, 'existing');
  mkdirSync(existing, { mode: 0o755 });
  try {
    for (const dir of [existing, path.join(parent, 'new', 'data')]) {
      const server = await startTestServer({}, { env: { DATA_DIR: dir }, drop: async () => {} });
      try {
        expect(statSync(dir).mode & 0o777, dir).toBe(0o700);
      } finally {
        await server.stop();
      }
    }
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
