import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';

/** A bench invocation that cannot run: its message says which option and why. */
export class BenchUsageError extends Error {}

const count = (min: number, max: number, fallback: number, value: string, help: string) => ({
  type: 'string' as const,
  value,
  help,
  default: String(fallback),
  check: z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max.toLocaleString('en')}`),
});
const flag = (help: string) => ({ type: 'boolean' as const, default: false, help, check: z.boolean() });
// Passed to the server as its LEDGER_* settings, which it checks itself.
const setting = (help: string) => ({ type: 'string' as const, value: 'N', help, check: z.string().optional() });

/** Each option once: how `parseArgs` reads it, its default, what it does, and its check. */
const options = {
  embedded: flag('the embedded PGlite ledger, in a directory of its own, instead of DATABASE_URL'),
  requests: count(1, 10_000_000, 40_000, 'N', 'deliveries per saturating variant'),
  concurrency: count(1, 10_000, 64, 'C', 'requests in flight'),
  rate: count(1, 1_000_000, 2_000, 'R', "the paced run's deliveries/s"),
  'paced-seconds': count(1, 3_600, 10, 'S', "each paced run's measured seconds"),
  'commit-seconds': count(1, 3_600, 10, 'S', "the commit floor's seconds"),
  'dense-bodies': count(0, 1_000, 16, 'N', 'bodies of minimal spans sent at once to a server of their own, for its memory; 0: none'),
  'dense-spans': count(1, 1_000_000, 50_000, 'N', 'spans in each of them'),
  'cpu-prof': flag("V8 profiles of the server's threads, to bench/profiles/"),
  'write-concurrency': setting("the server's LEDGER_WRITE_CONCURRENCY"),
  'prepare-threads': setting("the server's LEDGER_PREPARE_THREADS"),
  'from-source': flag('the server run through tsx, as npm start runs it, not compiled'),
  help: flag('this list'),
};

type Options = typeof options;
const schema = z.object(
  Object.fromEntries(Object.entries(options).map(([name, option]) => [name, option.check])) as {
    [Name in keyof Options]: Options[Name]['check'];
  },
);
const parseArgsOptions = Object.fromEntries(
  Object.entries(options).map(([name, option]) => [name, 'default' in option ? { type: option.type, default: option.default } : { type: option.type }]),
) as NonNullable<ParseArgsConfig['options']>;

export type BenchOptions = z.infer<typeof schema> & { databaseUrl: string | undefined };

/**
 * The bench's command line and the ledger it is given, checked: a count that is not a whole
 * number in range is refused, not run as NaN, and a bench without a ledger says how to give it one.
 */
export function benchOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  let values: unknown;
  try {
    ({ values } = parseArgs({ args: argv, options: parseArgsOptions }));
  } catch (err) {
    throw new BenchUsageError(`${(err as Error).message} (--help lists the options)`);
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BenchUsageError(`--${String(issue.path[0])}: ${issue.message}`);
  }
  const databaseUrl = env.DATABASE_URL || undefined;
  if (!parsed.data.help && !parsed.data.embedded && !databaseUrl) throw new BenchUsageError('set DATABASE_URL, or pass --embedded for PGlite');
  return { ...parsed.data, databaseUrl };
}

/** What `--help` prints: every option, its default and what it does. */
export function benchUsage(): string {
  const rows = Object.entries(options).map(([name, option]) => {
    const value = 'value' in option ? ` ${option.value}` : '';
    const fallback = 'value' in option && 'default' in option ? ` (default ${Number(option.default).toLocaleString('en')})` : '';
    return `  --${name}${value}`.padEnd(26) + option.help + fallback;
  });
  return [
    'npm run bench -- [options]    with DATABASE_URL set, or --embedded',
    '',
    ...rows,
    '',
    'Any other LEDGER_* variable set for the bench reaches the server. The README\'s "Throughput" says what it measures.',
    '',
  ].join('\n');
}
