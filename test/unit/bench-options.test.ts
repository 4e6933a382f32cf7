import { describe, expect, it } from 'vitest';
import { benchOptions, benchUsage } from '../../bench/options.js';

const url = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' };

describe("the bench's command line", () => {
  it('takes the documented defaults, and counts as whole numbers', () => {
    expect(benchOptions([], url)).toMatchObject({ embedded: false, requests: 40_000, concurrency: 64, rate: 2_000, 'paced-seconds': 10, 'commit-seconds': 10, databaseUrl: url.DATABASE_URL });
    expect(benchOptions(['--embedded', '--requests', '200', '--concurrency', '8'], {})).toMatchObject({ embedded: true, requests: 200, concurrency: 8, databaseUrl: undefined });
  });

  it.each([
    [['--requests', 'many'], '--requests: must be a whole number'],
    [['--concurrency', '0'], '--concurrency: must be at least 1'],
    [['--rate', '2.5'], '--rate: must be a whole number'],
    [['--paced-seconds', '86400'], '--paced-seconds: must be at most 3,600'],
    [['--commit-seconds', '0'], '--commit-seconds: must be at least 1'],
    [['--request', '10'], /Unknown option '--request'.*\(--help lists the options\)/],
  ] as [string[], string | RegExp][])('refuses %j with the option and the reason', (argv, message) => {
    expect(() => benchOptions(argv, url)).toThrow(message);
  });

  it('takes --help without a ledger, and lists every option it parses with its default', () => {
    expect(benchOptions(['--help'], {})).toMatchObject({ help: true });
    const usage = benchUsage();
    expect(usage).toMatch(/^ {2}--requests N {2,}deliveries per saturating variant \(default 40,000\)$/m);
    expect(usage).toMatch(/^ {2}--embedded {2,}\S/m);
    expect(usage).toMatch(/^ {2}--dense-bodies N {2,}.*; 0: none \(default 16\)$/m);
    const all = benchOptions(['--write-concurrency', '2', '--prepare-threads', '1'], url);
    expect(Object.keys(all)).toHaveLength(14);
    for (const name of Object.keys(all).filter((key) => key !== 'databaseUrl')) {
      expect(usage).toContain(`  --${name}`);
    }
  });

  it('says how to give it a ledger when it has none', () => {
    expect(() => benchOptions([], {})).toThrow('set DATABASE_URL, or pass --embedded for PGlite');
    expect(() => benchOptions([], { DATABASE_URL: '' })).toThrow('set DATABASE_URL');
  });
});
