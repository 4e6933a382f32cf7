import type { TestProject } from 'vitest/node';

/**
 * Picks the ledger the tests run against: DATABASE_URL when given (real Postgres), a
 * testcontainers Postgres when LEDGER_TEST_CONTAINERS=true (needs a Docker engine), else PGlite.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let stop = async () => {};
  if (!process.env.DATABASE_URL && process.env.LEDGER_TEST_CONTAINERS === 'true') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:17-alpine').start();
    process.env.DATABASE_URL = container.getConnectionUri();
    stop = async () => {
      await container.stop();
    };
  }
  project.provide('databaseUrl', process.env.DATABASE_URL ?? '');
  const where = process.env.DATABASE_URL ? 'Postgres (DATABASE_URL)' : 'embedded PGlite';
  process.stdout.write(`ledger under test: ${where}\n`);
  return stop;
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}
