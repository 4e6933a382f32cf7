import { availableParallelism } from 'node:os';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Content is kept at most this long (a century): a longer retention is a typo. */
export const MAX_RETENTION_DAYS = 36500;

// Digits only: coercion would read " " as 0 and "0x10" as 16, and say "received NaN" for "abc".
/** A whole number in [min, max] written as digits only (no sign, exponent or hex). */
export const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .refine((v) => /^\d{1,10}$/.test(v) && Number(v) >= min && Number(v) <= max, `must be a whole number from ${min} to ${max}`)
    .transform(Number);

const schema = z.object({
  PORT: wholeNumber(0, 65535).default(4318),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection string')
    .optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LEDGER_STORE_CONTENT: bool.default(false),
  LEDGER_CONTENT_RETENTION_DAYS: wholeNumber(1, MAX_RETENTION_DAYS).optional(),
  /** Largest accepted body, raw or after decompression. */
  LEDGER_MAX_BODY_BYTES: wholeNumber(1024, 1024 ** 3).default(64 * 1024 * 1024),
  /** Most spans one request may hold (413 past it). */
  LEDGER_MAX_SPANS_PER_REQUEST: wholeNumber(1, 10_000_000).default(100_000),
  /** Bytes of bodies (as sent) read at once; further deliveries wait their turn before being read. */
  LEDGER_MAX_BODY_BYTES_IN_FLIGHT: wholeNumber(1024 * 1024, 8 * 1024 ** 3).default(64 * 1024 * 1024),
  /** How long a verified key is trusted before it is looked up again (revocation delay). */
  LEDGER_KEY_CACHE_MS: wholeNumber(0, 60_000).default(2_000),
  /** Group commit: most requests in one transaction, and the longest a request waits for company. */
  LEDGER_BATCH_MAX_REQUESTS: wholeNumber(1, 10_000).default(256),
  LEDGER_BATCH_MAX_WAIT_MS: wholeNumber(0, 1_000).default(2),
  /** Requests per second one key may send to ingest (per server process); 0 turns the limit off. */
  LEDGER_RATE_LIMIT_PER_KEY: wholeNumber(0, 1_000_000).default(10_000),
  /** Deliveries in hand (arriving, waiting, prepared or committing) beyond which new ones get 503 at once. */
  LEDGER_MAX_PENDING_REQUESTS: wholeNumber(1, 1_000_000).default(20_000),
  /** The whole request must arrive within this time; a stalled sender is cut off. */
  LEDGER_REQUEST_TIMEOUT_MS: wholeNumber(100, 600_000).default(60_000),
  /** Group-commit transactions running at once (Postgres; PGlite is one session, so always 1). */
  LEDGER_WRITE_CONCURRENCY: wholeNumber(1, 64).default(2),
  LEDGER_POOL_SIZE: wholeNumber(1, 200).default(8),
  /**
   * Postgres's backend_flush_after for the write transactions, in kB (0: the server's own). Their
   * data then reaches the disk as it is written, not in bursts that stall every commit's WAL flush.
   */
  LEDGER_WRITE_FLUSH_AFTER_KB: wholeNumber(0, 2048).default(256),
  /**
   * Threads that decode deliveries and build their rows, off the thread that serves HTTP; 0 does
   * that on the serving thread. Default: one per core beyond the first (none on one core, where a
   * thread would only add hand-over costs), at most 4.
   */
  LEDGER_PREPARE_THREADS: wholeNumber(0, 64).default(Math.min(4, availableParallelism() - 1)),
  /**
   * The embedded ledger refuses deliveries (503) while its disk has less free space than this;
   * 0 turns the check off. PGlite hangs when a write finds the disk full.
   */
  LEDGER_MIN_FREE_DISK_MB: wholeNumber(0, 10_000_000).default(256),
  /** The secret GET /metrics answers to; it tells every organisation's spend and traffic, so it is off without one. */
  LEDGER_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Extra header names whose values never reach the logs (comma-separated). */
  LEDGER_REDACT_HEADERS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean)),
});

export type Config = z.infer<typeof schema>;

/** Reads the configuration; a bad value throws one line that names the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const picked = Object.fromEntries(
    Object.keys(schema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`invalid configuration: ${String(issue.path[0])}: ${issue.message}`);
  }
  return parsed.data;
}

export class ConfigError extends Error {}
