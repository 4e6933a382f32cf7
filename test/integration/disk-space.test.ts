import { statfs } from 'node:fs/promises';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import { expect, it } from 'vitest';
import { DiskSpaceGuard, watchDiskSpace } from '../../src/ledger/disk-space.js';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { post } from '../support/http.js';
import { createTestLedger, startTestServer } from '../support/test-server.js';

// A disk that cannot be filled in a test stands in for a full one: a floor above its free space.
it('with less free disk than LEDGER_MIN_FREE_DISK_MB, the embedded ledger refuses deliveries (503, retried) and is not ready; Postgres is not its to watch', async () => {
  const ledger = await createTestLedger();
  const { bavail, bsize } = await statfs(ledger.env.DATA_DIR ?? '.');
  const overFreeMb = String(Math.ceil((bavail * bsize) / 1024 / 1024) + 1024);
  const server = await startTestServer({ LEDGER_MIN_FREE_DISK_MB: overFreeMb }, ledger);
  try {
    const { key } = await server.key('acme');
    const res = await post(server.url, openRouterDelivery({ generationId: 'gen-disk', inputTokens: 1, outputTokens: 1, totalCost: 0.1 }), { key });
    const ready = await fetch(`${server.url}/readyz`);
    const [stored] = await server.query<{ n: string }>(`SELECT count(*)::text AS n FROM spans`);
    if (ledger.env.DATA_DIR) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.json()).toEqual({ code: 14, message: "the ledger's disk is nearly full; retry later" });
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'unavailable', message: "the ledger's disk is nearly full" });
      expect(stored!.n).toBe('0');
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } else {
      expect(res.status).toBe(200);
      expect(ready.status).toBe(200);
      expect(stored!.n).toBe('1');
    }
  } finally {
    await server.stop();
    await ledger.drop();
  }
});

it('a disk space check that fails (DATA_DIR gone) is logged once, not every second, and its recovery once', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ledger-disk-'));
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const stop = await watchDiskSpace(new DiskSpaceGuard(dir, 1), log);
  try {
    rmSync(dir, { recursive: true });
    await delay(3_500);
    mkdirSync(dir);
    await delay(1_500);
  } finally {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }
  expect(lines.map((l) => [l.level, l.msg])).toEqual([
    [50, 'disk space check failed (not logged again until it works)'],
    [30, 'disk space check works again'],
  ]);
});
