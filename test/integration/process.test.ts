import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { freePort, startServerProcess } from '../../bench/server-process.js';
import { createKey } from '../../src/auth/key-store.js';
import { openDatabaseForCli } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrate.js';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { post } from '../support/http.js';
import { isAlive } from '../support/process-alive.js';
import { createTestLedger, type TestLedger } from '../support/test-server.js';

let ledger: TestLedger;
const open = () => openDatabaseForCli({ databaseUrl: ledger.env.DATABASE_URL, dataDir: ledger.env.DATA_DIR ?? '', poolSize: 1 });

beforeAll(async () => {
  ledger = await createTestLedger();
});
afterAll(() => ledger.drop());

async function newKey(org: string): Promise<string> {
  const db = await open();
  try {
    await migrate(db.db);
    return (await createKey(db.db, { org, scope: 'ingest' })).key;
  } finally {
    await db.close();
  }
}

describe('the server as a process', () => {
  it('drains on SIGTERM: every request is committed or refused, none half-written, exit code 0', async () => {
    const key = await newKey('drain');
    const server = await startServerProcess(ledger.env, { capture: true });
    const N = 200;
    const statuses: number[] = [];
    let next = 0;
    let acked = 0;
    const worker = async () => {
      while (next < N) {
        const i = next++;
        try {
          const res = await post(server.url, openRouterDelivery({ generationId: `gen-drain-${i}`, inputTokens: 1, outputTokens: 1, totalCost: 0.01, children: true }), { key });
          await res.arrayBuffer();
          statuses[i] = res.status;
          if (res.status === 200) acked++;
        } catch {
          statuses[i] = 0; // connection refused once the server has stopped listening
        }
      }
    };
    const senders = Promise.all(Array.from({ length: 32 }, worker));
    while (acked < 20) await new Promise((r) => setTimeout(r, 2));
    process.kill(server.pid, 'SIGTERM');
    await senders;
    expect(await server.exited).toBe(0);
    expect(statuses.every((s) => s === 200 || s === 503 || s === 0)).toBe(true);

    const db = await open();
    try {
      const stored = await sql<{ generation_id: string }>`SELECT generation_id FROM generations WHERE generation_id LIKE 'gen-drain-%'`.execute(db.db);
      const storedIds = new Set(stored.rows.map((r) => r.generation_id));
      const ackedIds = statuses.flatMap((s, i) => (s === 200 ? [`gen-drain-${i}`] : []));
      for (const id of ackedIds) expect(storedIds.has(id)).toBe(true);
      expect(stored.rows.length).toBe(storedIds.size);
      const partial = await sql`SELECT trace_id FROM spans GROUP BY trace_id HAVING count(*) <> 3`.execute(db.db);
      expect(partial.rows).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('killed outright (SIGKILL) under load, keeps every delivery it acknowledged, whole, once restarted', async () => {
    const key = await newKey('killed');
    const server = await startServerProcess(ledger.env, { capture: true });
    const acked: string[] = [];
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (!killed) {
        const id = `gen-killed-${next++}`;
        try {
          const res = await post(server.url, openRouterDelivery({ generationId: id, inputTokens: 1, outputTokens: 1, totalCost: 0.01, children: true }), { key });
          await res.arrayBuffer();
          if (res.status === 200) acked.push(id);
        } catch {
          // The connection died with the server.
        }
      }
    };
    const senders = Promise.all(Array.from({ length: 32 }, worker));
    while (acked.length < 100) await new Promise((r) => setTimeout(r, 2));
    process.kill(server.pid, 'SIGKILL');
    killed = true;
    await senders;
    await server.exited;

    const restarted = await startServerProcess(ledger.env, { capture: true });
    const db = await open();
    try {
      const stored = await sql<{ generation_id: string }>`SELECT generation_id FROM generations WHERE generation_id LIKE 'gen-killed-%'`.execute(db.db);
      const storedIds = stored.rows.map((r) => r.generation_id);
      expect(acked.filter((id) => !storedIds.includes(id))).toEqual([]);
      expect(new Set(storedIds).size).toBe(storedIds.length);
      const partial = await sql`SELECT trace_id FROM spans GROUP BY trace_id HAVING count(*) <> 3`.execute(db.db);
      expect(partial.rows).toEqual([]);
    } finally {
      await db.close();
      await restarted.stop();
    }
  });

  it('started by npm start, stops when npm is sent SIGTERM (as a process manager stops it), not left running', async () => {
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...ledger.env, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    npm.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const npmExited = new Promise((resolve) => npm.once('exit', resolve));
    let serverPid: number | undefined;
    try {
      while (serverPid === undefined) {
        const listening = /"pid":(\d+)[^\n]*"msg":"ai-spend-ledger listening/.exec(output);
        if (listening) serverPid = Number(listening[1]);
        else if (npm.exitCode !== null) throw new Error(`npm start exited: ${output}`);
        else await new Promise((r) => setTimeout(r, 100));
      }
      // The signal finds the server's thread busy, in a query of a second through the command
      // line's bridge: tsx's command, which npm start ran before, killed the server outright when
      // it had not heard back within 60 ms. (A Postgres query does not hold the thread.)
      const busy = ledger.env.DATA_DIR ? await open() : null;
      const sleeping = busy ? sql`SELECT pg_sleep(1)`.execute(busy.db) : null;
      if (busy) await new Promise((r) => setTimeout(r, 200));
      npm.kill('SIGTERM');
      await sleeping;
      await busy?.close();
      await npmExited;
      expect(npm.exitCode).toBe(0);
      const deadline = Date.now() + 20_000;
      while (isAlive(serverPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(isAlive(serverPid)).toBe(false);
      expect(output).toContain('"msg":"draining in-flight requests"');
    } finally {
      if (serverPid !== undefined && isAlive(serverPid)) process.kill(serverPid, 'SIGKILL');
      npm.kill('SIGKILL');
    }
  });

  it('never writes keys, redacted headers or prompt content to its logs', async () => {
    const key = await newKey('logs');
    const server = await startServerProcess({ ...ledger.env, LOG_LEVEL: 'debug', LEDGER_REDACT_HEADERS: 'x-ramp-secret' }, { capture: true });
    try {
      const delivery = openRouterDelivery({ generationId: 'gen-logs-1', inputTokens: 1, outputTokens: 1, totalCost: 0.01, content: true });
      const ok = await post(server.url, delivery, { key, headers: { 'x-ramp-secret': 'sekrit-123', 'x-request-id': 'req-logs-1' } });
      expect(ok.status).toBe(200);
      const wrong = `asl_${'Z'.repeat(43)}`;
      expect((await post(server.url, delivery, { key: wrong })).status).toBe(401);
      // A key pasted where it does not belong: into the Base URL's query, or a header of the sender's own.
      const misplaced = await post(server.url, delivery, { key, path: `/v1/traces?api_key=${key}`, headers: { 'x-forwarded-key': key } });
      expect(misplaced.status).toBe(200);
    } finally {
      await server.stop();
    }
    const logs = server.output();
    expect(logs).toContain('"reqId":"req-logs-1"');
    expect(logs).toContain('[redacted]');
    for (const secret of [key, key.slice(4), 'Z'.repeat(43), 'sekrit-123', 'count the words', 'There are 42 words']) {
      expect(logs).not.toContain(secret);
    }
  });
});
