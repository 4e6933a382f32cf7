import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setImmediate } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRouterDelivery } from '../fixtures/openrouter.js';
import { ledgerCli } from '../support/cli.js';
import { post } from '../support/http.js';
import { createTestLedger, startTestServer, type TestLedger, type TestServer } from '../support/test-server.js';

let ledger: TestLedger;
let server: TestServer;

beforeAll(async () => {
  ledger = await createTestLedger();
  // The CLI and the server share one ledger; on PGlite the CLI goes through the server's bridge.
  server = await startTestServer({ LEDGER_KEY_CACHE_MS: '100' }, ledger);
});
afterAll(async () => {
  await server.stop();
  await ledger.drop();
});

describe('ledger keys', () => {
  it('creates, lists and revokes keys while the server runs', async () => {
    const created = await ledgerCli(['keys', 'create', '--org', 'acme', '--name', 'OpenRouter prod', '--json'], ledger.env);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; org: string; name: string; scope: string; key: string };
    expect(key).toMatchObject({ org: 'acme', name: 'OpenRouter prod', scope: 'ingest' });
    expect(key.key).toMatch(/^asl_[A-Za-z0-9_-]{43}$/);

    const delivery = openRouterDelivery({ generationId: 'gen-cli-1', inputTokens: 1, outputTokens: 1, totalCost: 0.5 });
    expect((await post(server.url, delivery, { key: key.key })).status).toBe(200);

    // The secret is stored only as a hash.
    const stored = await server.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM api_keys WHERE encode(key_hash, 'escape') LIKE '%${key.key.slice(4, 20)}%' OR key_prefix = '${key.key}'`,
    );
    expect(stored[0]!.n).toBe('0');

    // "Last used" is written off the request path, within a second.
    await new Promise((r) => setTimeout(r, 1_200));
    const listed = await ledgerCli(['keys', 'list', '--org', 'acme', '--json'], ledger.env);
    expect(listed.code).toBe(0);
    const rows = listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: key.id, org: 'acme', name: 'OpenRouter prod', scope: 'ingest', revoked: null });
    expect(rows[0]!.lastUsed).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(listed.stdout).not.toContain(key.key);

    const table = await ledgerCli(['keys', 'list'], ledger.env);
    expect(table.stdout).toMatch(/id\s+org\s+name\s+scope/);

    const revoked = await ledgerCli(['keys', 'revoke', key.id], ledger.env);
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked key ${key.id}\n` });
    const keysAfter = (await ledgerCli(['keys', 'list', '--json'], ledger.env)).stdout.trim().split('\n');
    const at = keysAfter.map((line) => JSON.parse(line) as { id: string; revoked: string }).find((k) => k.id === key.id)!.revoked;
    // Again: the first revocation's time stands, and the command says nothing changed.
    const again = await ledgerCli(['keys', 'revoke', key.id], ledger.env);
    expect(again).toMatchObject({ code: 0, stdout: `key ${key.id} was already revoked at ${at}; nothing changed\n` });
    await new Promise((r) => setTimeout(r, 150));
    expect((await post(server.url, delivery, { key: key.key })).status).toBe(401);
  });

  it('creates read keys and refuses bad input with a clear message', async () => {
    const read = await ledgerCli(['keys', 'create', '--org', 'acme', '--scope', 'read', '--json'], ledger.env);
    expect(JSON.parse(read.stdout)).toMatchObject({ scope: 'read' });
    expect(Object.keys(JSON.parse(read.stdout) as object)).toEqual(['id', 'org', 'name', 'scope', 'key']);
    const again = await ledgerCli(['keys', 'create', '--org', 'acme'], ledger.env);
    expect(again.stdout).not.toContain('new organisation');
    expect(await ledgerCli(['keys', 'list', '--org', 'acmee'], ledger.env)).toMatchObject({ code: 64, stdout: '', stderr: '--org: no organisation "acmee"\n' });
    const typo = await ledgerCli(['keys', 'create', '--org', 'acmee'], ledger.env);
    expect(typo.stdout.split('\n')[1]).toBe('acmee is a new organisation; if you meant an existing one, see keys list');
    const badScope = await ledgerCli(['keys', 'create', '--org', 'acme', '--scope', 'admin'], ledger.env);
    expect(badScope.code).toBe(64);
    expect(badScope.stderr).toMatch(/--scope must be ingest or read/);
    const badOrg = await ledgerCli(['keys', 'create', '--org', 'Not A Slug'], ledger.env);
    expect(badOrg.code).toBe(64);
    expect(badOrg.stderr).toMatch(/invalid org slug/);
    const unknown = await ledgerCli(['keys', 'revoke', '00000000-0000-0000-0000-000000000000'], ledger.env);
    expect(unknown).toMatchObject({ code: 64, stderr: 'no key with id 00000000-0000-0000-0000-000000000000\n' });
    const badEnv = await ledgerCli(['keys', 'list'], { ...ledger.env, DATABASE_URL: 'mysql://nope' });
    expect(badEnv.stderr).toMatch(/^invalid configuration: DATABASE_URL/);
    // The embedded ledger's directory given as a file: one line naming the variable, not a bare EEXIST.
    const notADir = await ledgerCli(['keys', 'list'], { DATA_DIR: fileURLToPath(import.meta.url) });
    expect(notADir).toEqual({
      code: 1,
      stdout: '',
      stderr: `invalid configuration: DATA_DIR: "${fileURLToPath(import.meta.url)}" cannot hold the ledger: a file, not a directory\n`,
    });
    // A directory of other things (a home directory, a project): PGlite would make its ledger among them.
    const project = mkdtempSync(path.join(tmpdir(), 'ledger-project-'));
    try {
      writeFileSync(path.join(project, 'notes.txt'), 'mine');
      const notEmpty = await ledgerCli(['keys', 'list'], { DATA_DIR: project });
      expect(notEmpty).toEqual({
        code: 1,
        stdout: '',
        stderr: `invalid configuration: DATA_DIR: "${project}" holds other files (notes.txt) and no ledger: give an empty or new directory\n`,
      });
      expect(readdirSync(project)).toEqual(['notes.txt']);
      // Postgres's own entries and no PG_VERSION: a ledger's first start cut off, which PGlite makes again.
      // With the lock's copy a process killed while taking the lock left behind.
      rmSync(path.join(project, 'notes.txt'));
      mkdirSync(path.join(project, 'pg_wal'));
      writeFileSync(path.join(project, '.ledger.lock.0a1b2c3d4e5f'), '12345');
      expect(await ledgerCli(['keys', 'list'], { DATA_DIR: project })).toMatchObject({ code: 0, stderr: '' });
      expect(readdirSync(project)).toContain('PG_VERSION');
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it('prints its usage on help or --help, to stdout with exit code 0, whatever the environment', async () => {
    const badEnv = { ...ledger.env, DATABASE_URL: 'mysql://nope' };
    for (const args of [['help'], ['--help'], ['report', '--by', 'model', '--help'], ['keys', 'create', '-h']]) {
      const shown = await ledgerCli(args, badEnv);
      expect(shown, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
      expect(shown.stdout).toMatch(/^usage: ledger <command>/);
      expect(shown.stdout).toContain('keys revoke <id>');
    }
    const unknown = await ledgerCli(['frobnicate'], ledger.env);
    expect(unknown).toMatchObject({ code: 64, stdout: '' });
    expect(unknown.stderr).toMatch(/^unknown command: frobnicate\nusage: ledger/);
  });

  it('exits 64 with the usage for an option or argument a command does not take', async () => {
    const wrong: [string[], RegExp][] = [
      [['report', 'acme'], /^Unexpected argument 'acme'/],
      [['export', '--format', 'csv', '--by', 'model'], /^Unknown option '--by'/],
      [['migrate', 'now'], /^Unexpected argument 'now'/],
      [['keys', 'revoke', 'a', 'b'], /^keys revoke needs the key id, and only it/],
      [['content', 'purge', '--older-than-days', '-1'], /^Option '--older-than-days' argument is ambiguous/],
      // parseArgs keeps the last of two: a key for globex, unasked.
      [['keys', 'create', '--org', 'acme', '--org', 'globex'], /^--org is given more than once/],
      [['report', '--from', '2026-10-01', '--from=2026-10-02'], /^--from is given more than once/],
    ];
    for (const [args, message] of wrong) {
      const refused = await ledgerCli(args, ledger.env);
      expect(refused, args.join(' ')).toMatchObject({ code: 64, stdout: '' });
      expect(refused.stderr, args.join(' ')).toMatch(message);
      expect(refused.stderr, args.join(' ')).toContain('\nusage: ledger <command>');
    }
  });
});

describe('ledger content purge', () => {
  it('deletes stored content older than the retention, keeps newer content and every span', async () => {
    const ledgerWithContent = await createTestLedger();
    const srv = await startTestServer({ LEDGER_STORE_CONTENT: 'true' }, ledgerWithContent);
    try {
      const { key } = await srv.key('acme');
      for (const id of ['gen-old', 'gen-new']) {
        const res = await post(srv.url, openRouterDelivery({ generationId: id, inputTokens: 1, outputTokens: 1, totalCost: 0.1, content: true }), { key });
        expect(res.status).toBe(200);
      }
      await srv.query(`UPDATE span_content SET received_at = now() - interval '40 days'
        WHERE trace_id IN (SELECT trace_id FROM generations WHERE generation_id = 'gen-old')`);
      const purged = await ledgerCli(['content', 'purge', '--older-than-days', '30'], ledgerWithContent.env);
      expect(purged).toMatchObject({ code: 0, stdout: 'purged content of 1 span(s) received more than 30 day(s) ago\n' });
      const [left] = await srv.query(`SELECT (SELECT count(*) FROM span_content)::text AS content, (SELECT count(*) FROM spans)::text AS spans`);
      expect(left).toEqual({ content: '1', spans: '2' });
      const noDays = await ledgerCli(['content', 'purge'], ledgerWithContent.env);
      expect(noDays.code).toBe(64);
      // Read as written: not as hex or an exponent, and never past what the database can count in days.
      for (const days of ['99999999999', '0x10', '1e2', '1.5']) {
        const refused = await ledgerCli(['content', 'purge', '--older-than-days', days], ledgerWithContent.env);
        expect(refused, days).toEqual({ code: 64, stdout: '', stderr: '--older-than-days: must be a whole number from 0 to 36500\n' });
      }
    } finally {
      await srv.stop();
      await ledgerWithContent.drop();
    }
  });
});

describe('content retention on a running server', () => {
  it('purges expired content from its start, committing as it goes: readers see it shrink, deliveries go on', async () => {
    const ledgerWithContent = await createTestLedger();
    const expiredRows = 100_000;
    const seeding = await startTestServer({ LEDGER_STORE_CONTENT: 'true' }, ledgerWithContent);
    try {
      const { key } = await seeding.key('acme');
      const fresh = openRouterDelivery({ generationId: 'gen-fresh', inputTokens: 1, outputTokens: 1, totalCost: 0.1, content: true });
      expect((await post(seeding.url, fresh, { key })).status).toBe(200);
      await seeding.query(`INSERT INTO span_content (org_id, trace_id, span_id, attributes, events, received_at)
        SELECT 1, lpad(to_hex(g), 32, '0'), lpad(to_hex(g), 16, '0'), json_build_object('gen_ai.prompt', repeat('x', 200)), '[]',
          now() - interval '40 days'
        FROM generate_series(1, ${expiredRows}) g`);
    } finally {
      await seeding.stop();
    }

    const srv = await startTestServer({ LEDGER_STORE_CONTENT: 'true', LEDGER_CONTENT_RETENTION_DAYS: '30' }, ledgerWithContent);
    try {
      const expired = async () => {
        const [row] = await srv.query<{ n: string }>(`SELECT count(*)::text AS n FROM span_content WHERE received_at < now() - interval '30 days'`);
        return Number(row!.n);
      };
      const seen: number[] = [];
      const watching = (async () => {
        const giveUp = Date.now() + 30_000;
        for (;;) {
          seen.push(await expired());
          if (seen.at(-1) === 0 || Date.now() > giveUp) return;
          // A turn of the event loop between reads, as a server's other work has: PGlite answers in
          // promise callbacks alone, so reads back to back would never let the purge's next batch in.
          await setImmediate();
        }
      })();
      const { key } = await srv.key('acme');
      const during = openRouterDelivery({ generationId: 'gen-during-purge', inputTokens: 1, outputTokens: 1, totalCost: 0.1, content: true });
      expect((await post(srv.url, during, { key })).status).toBe(200);
      await watching;
      // As one DELETE the purge went from all to nothing at once (and on PGlite held every query until then).
      expect(seen.some((n) => n > 0 && n < expiredRows), seen.join(' ')).toBe(true);
      const [left] = await srv.query<{ content: string; spans: string }>(
        `SELECT (SELECT count(*) FROM span_content)::text AS content, (SELECT count(*) FROM spans)::text AS spans`,
      );
      expect(left).toEqual({ content: '2', spans: '2' });
    } finally {
      await srv.stop();
      await ledgerWithContent.drop();
    }
  });
});
