#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, MAX_RETENTION_DAYS, wholeNumber } from './config.js';
import { createKey, KeyStoreError, listKeys, revokeKey } from './auth/key-store.js';
import { openDatabaseForCli, type LedgerDatabase } from './ledger/database.js';
import { migrate } from './ledger/migrate.js';
import { purgeContent } from './ledger/content-retention.js';
import { DataDirBusyError } from './ledger/data-dir-lock.js';
import { formatTable } from './reports/table.js';
import { ParamError, parseReportParams } from './reports/report-params.js';
import { spendReport } from './reports/spend-report.js';
import { render } from './reports/render.js';
import { resolveOrg } from './reports/orgs.js';
import { exportStream } from './reports/exports.js';

const USAGE = `usage: ledger <command>   (ledger help, or --help with any command, prints this)
  keys create --org <slug> [--name <label>] [--scope ingest|read] [--json]
  keys list [--org <slug>] [--json]
  keys revoke <id>
  report [--org <slug>] [--from <date|time>] [--to <date|time>] [--last 24h|7d|30d|90d]
         [--by day,week,month,model,provider,user,session,api_key,meta.<key>] [--format table|csv|json]
  export --format csv|focus [--org <slug>] [--from …] [--to …] [--last …]
  content purge [--older-than-days <n>]   (default: LEDGER_CONTENT_RETENTION_DAYS)
  migrate`;

class UsageError extends Error {}

type ArgsConfig = NonNullable<Parameters<typeof parseArgs>[0]>;

/**
 * node:util's parseArgs, with its refusals (an unknown option, a stray argument, a missing value) as
 * wrong usage, and one more: an option with a value given twice where it takes one. parseArgs
 * would keep the last, so `keys create --org acme --org globex` made a key for globex unasked.
 */
function parseOptions<T extends ArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    const { tokens = [] } = parseArgs({ ...config, tokens: true });
    const seen = new Set<string>();
    for (const token of tokens) {
      if (token.kind !== 'option') continue;
      const option = config.options?.[token.name];
      if (seen.has(token.name) && option?.type === 'string' && !option.multiple) throw new UsageError(`${token.rawName} is given more than once`);
      seen.add(token.name);
    }
    return parseArgs(config);
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((err as Error).message);
    throw err;
  }
}

const WINDOW_OPTIONS = {
  org: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  last: { type: 'string' },
} as const;

/** Writes to stdout, waiting when the pipe is full, so exports stream with flat memory. */
function write(chunk: string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(chunk)) resolve();
    else process.stdout.once('drain', resolve);
  });
}

// A reader that stops early (`ledger export | head`) closes the pipe: stop quietly, as Unix tools
// do, not with a stack trace. Any other failure to write (a full disk) is an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  process.stderr.write(`ledger: cannot write the output: ${err.message}\n`);
  process.exit(1);
});

type Out = (line: string) => void;

/** `help`, or `--help` / `-h` anywhere: before the configuration is read, so it works whatever the environment. */
function wantsHelp(argv: string[]): boolean {
  return argv[0] === 'help' || argv.some((arg) => arg === '--help' || arg === '-h');
}

async function run(argv: string[], out: Out): Promise<void> {
  const [command, sub] = argv;
  if (wantsHelp(argv)) {
    out(USAGE);
    return;
  }
  const config = loadConfig();
  const withLedger = async (fn: (ledger: LedgerDatabase) => Promise<void>) => {
    const ledger = await openDatabaseForCli({
      databaseUrl: config.DATABASE_URL,
      dataDir: config.DATA_DIR,
      poolSize: 2,
    });
    try {
      if (ledger.kind !== 'bridge') await migrate(ledger.db);
      await fn(ledger);
    } finally {
      await ledger.close();
    }
  };

  if (command === 'keys' && sub === 'create') {
    const { values } = parseOptions({
      args: argv.slice(2),
      options: { org: { type: 'string' }, name: { type: 'string' }, scope: { type: 'string', default: 'ingest' }, json: { type: 'boolean' } },
    });
    if (!values.org) throw new UsageError('keys create needs --org <slug>');
    if (values.scope !== 'ingest' && values.scope !== 'read') throw new UsageError('--scope must be ingest or read');
    const scope = values.scope;
    await withLedger(async ({ db }) => {
      const { newOrg, ...created } = await createKey(db, { org: values.org!, name: values.name, scope });
      if (values.json) out(JSON.stringify(created));
      else {
        out(`created ${created.scope} key "${created.name}" for org ${created.org} (id ${created.id})`);
        // A mistyped slug would otherwise open a second organisation whose spend no report of the first shows.
        if (newOrg) out(`${created.org} is a new organisation; if you meant an existing one, see keys list`);
        out(`key: ${created.key}`);
        out('store it now: it is not shown again.');
      }
    });
    return;
  }
  if (command === 'keys' && sub === 'list') {
    const { values } = parseOptions({ args: argv.slice(2), options: { org: { type: 'string' }, json: { type: 'boolean' } } });
    await withLedger(async ({ db }) => {
      // A mistyped --org must not read as an organisation without keys.
      if (values.org !== undefined) await resolveOrg(db, values.org);
      const keys = await listKeys(db, values.org);
      if (values.json) keys.forEach((k) => out(JSON.stringify(k)));
      else {
        const header = ['id', 'org', 'name', 'scope', 'prefix', 'created', 'last used', 'last tested', 'revoked'];
        const rows = keys.map((k) => [k.id, k.org, k.name, k.scope, `${k.prefix}…`, k.created, k.lastUsed, k.lastTested, k.revoked]);
        out(formatTable(header, rows));
      }
    });
    return;
  }
  if (command === 'keys' && sub === 'revoke') {
    const { positionals } = parseOptions({ args: argv.slice(2), allowPositionals: true });
    const id = positionals[0];
    if (!id || positionals.length > 1) throw new UsageError('keys revoke needs the key id, and only it (see keys list)');
    await withLedger(async ({ db }) => {
      const revoked = await revokeKey(db, id);
      if (!revoked) throw new KeyStoreError(`no key with id ${id}`);
      out(revoked.now ? `revoked key ${id}` : `key ${id} was already revoked at ${revoked.revokedAt}; nothing changed`);
    });
    return;
  }
  if (command === 'report') {
    const { values } = parseOptions({
      args: argv.slice(1),
      options: { ...WINDOW_OPTIONS, by: { type: 'string', multiple: true }, format: { type: 'string', default: 'table' } },
    });
    const format = values.format;
    if (format !== 'table' && format !== 'csv' && format !== 'json') throw new UsageError('--format must be table, csv or json');
    // --by day --by model is --by day,model.
    const params = parseReportParams({ ...values, by: values.by?.join(',') });
    await withLedger(async ({ db }) => {
      const report = await spendReport(db, await resolveOrg(db, values.org), params);
      out(render(report, format).replace(/\n$/, ''));
    });
    return;
  }
  if (command === 'export') {
    const { values } = parseOptions({ args: argv.slice(1), options: { ...WINDOW_OPTIONS, format: { type: 'string' } } });
    if (values.format !== 'csv' && values.format !== 'focus') throw new UsageError('export needs --format csv or --format focus');
    const window = parseReportParams(values);
    const format = values.format;
    await withLedger(async ({ db }) => {
      const org = await resolveOrg(db, values.org);
      for await (const chunk of exportStream(db, format, org.id, window)) await write(chunk);
    });
    return;
  }
  if (command === 'content' && sub === 'purge') {
    const { values } = parseOptions({ args: argv.slice(2), options: { 'older-than-days': { type: 'string' } } });
    const given = values['older-than-days'];
    let days = config.LEDGER_CONTENT_RETENTION_DAYS;
    if (given !== undefined) {
      const parsed = wholeNumber(0, MAX_RETENTION_DAYS).safeParse(given);
      if (!parsed.success) throw new ParamError('older-than-days', parsed.error.issues[0]!.message);
      days = parsed.data;
    }
    if (days === undefined) throw new UsageError('content purge needs --older-than-days <n> or LEDGER_CONTENT_RETENTION_DAYS');
    await withLedger(async ({ db }) => {
      const deleted = await purgeContent(db, days);
      out(`purged content of ${deleted} span(s) received more than ${days} day(s) ago`);
    });
    return;
  }
  if (command === 'migrate') {
    parseOptions({ args: argv.slice(1) });
    await withLedger(async () => out('migrations applied'));
    return;
  }
  throw new UsageError(command ? `unknown command: ${argv.join(' ')}` : 'no command given');
}

run(process.argv.slice(2), (line) => process.stdout.write(`${line}\n`)).catch((err: unknown) => {
  if (err instanceof UsageError) process.stderr.write(`${err.message}\n${USAGE}\n`);
  else if (err instanceof ParamError) process.stderr.write(`--${err.message}\n`);
  else if (err instanceof ConfigError || err instanceof KeyStoreError || err instanceof DataDirBusyError) {
    process.stderr.write(`${err.message}\n`);
  } else process.stderr.write(`ledger: ${(err as Error).message}\n`);
  // A key-store error is an argument naming nothing (a slug that cannot be one, an unknown key id).
  process.exit(err instanceof UsageError || err instanceof ParamError || err instanceof KeyStoreError ? 64 : 1);
});
