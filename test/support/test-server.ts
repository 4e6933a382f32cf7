import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { createKey } from '../../src/auth/key-store.js';
import type { Scope } from '../../src/auth/key-format.js';

export interface TestLedger {
  /** Environment that points the server or the CLI at this test's ledger. */
  env: Record<string, string>;
  drop(): Promise<void>;
}

/**
 * A ledger of the test's own: a fresh schema on the real Postgres when DATABASE_URL is given,
 * otherwise a fresh PGlite directory.
 */
export async function createTestLedger(): Promise<TestLedger> {
  const base = inject('databaseUrl');
  if (base) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const url = new URL(base);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return {
      env: { DATABASE_URL: url.toString() },
      drop: async () => {
        const c = new pg.Client({ connectionString: base });
        await c.connect();
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
        await c.end();
      },
    };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'ledger-test-'));
  return { env: { DATA_DIR: dir }, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestServer extends RunningServer {
  config: Config;
  ledgerEnv: Record<string, string>;
  /** Rows of a SQL query against the server's ledger. */
  query<T = Record<string, unknown>>(text: string): Promise<T[]>;
  key(org: string, scope?: Scope, name?: string): Promise<{ id: string; key: string }>;
  stop(): Promise<void>;
}

export async function startTestServer(env: Record<string, string> = {}, ledger?: TestLedger): Promise<TestServer> {
  const own = ledger ?? (await createTestLedger());
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...own.env, ...env });
  const server = await startServer(config);
  return {
    ...server,
    config,
    ledgerEnv: own.env,
    query: async <T>(text: string) => (await sql.raw<T>(text).execute(server.ledger.db)).rows,
    key: async (org: string, scope: Scope = 'ingest', name?: string) => {
      const created = await createKey(server.ledger.db, { org, scope, name });
      return { id: created.id, key: created.key };
    },
    stop: async () => {
      await server.close();
      if (!ledger) await own.drop();
    },
  };
}
