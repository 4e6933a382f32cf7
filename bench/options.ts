import { parseArgs } from 'node:util';
import { z } from 'zod';

/** A bench invocation that cannot run: its message says which option and why. */
export class BenchUsageError extends Error {}

const count = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max.toLocaleString('en')}`);

const schema = z.object({
  embedded: z.boolean(),
  requests: count(1, 10_000_000),
  concurrency: count(1, 10_000),
  rate: count(1, 1_000_000),
  'paced-seconds': count(1, 3_600),
  'commit-seconds': count(1, 3_600),
  'cpu-prof': z.boolean(),
  // Passed to the server as its LEDGER_* settings, which it checks itself.
  'write-concurrency': z.string().optional(),
  'prepare-threads': z.string().optional(),
  'from-source': z.boolean(),
});

export type BenchOptions = z.infer<typeof schema> & { databaseUrl: string | undefined };

/**
 * The bench's command line and the ledger it is given, checked: a count that is not a whole
 * number in range is refused, not run as NaN, and a bench without a ledger says how to give it one.
 */
export function benchOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  let values: unknown;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        embedded: { type: 'boolean', default: false },
        requests: { type: 'string', default: '40000' },
        concurrency: { type: 'string', default: '64' },
        rate: { type: 'string', default: '2000' },
        'paced-seconds': { type: 'string', default: '10' },
        'commit-seconds': { type: 'string', default: '10' },
        'cpu-prof': { type: 'boolean', default: false },
        'write-concurrency': { type: 'string' },
        'prepare-threads': { type: 'string' },
        'from-source': { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    throw new BenchUsageError((err as Error).message);
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BenchUsageError(`--${String(issue.path[0])}: ${issue.message}`);
  }
  const databaseUrl = env.DATABASE_URL || undefined;
  if (!parsed.data.embedded && !databaseUrl) throw new BenchUsageError('set DATABASE_URL, or pass --embedded for PGlite');
  return { ...parsed.data, databaseUrl };
}
