import { ConfigError, loadConfig } from './config.js';
import { startServer } from './server.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const server = await startServer(config, {
    onWait: (holder) => process.stderr.write(`waiting for process ${holder} to let go of the embedded ledger in ${config.DATA_DIR}\n`),
  });
  server.app.log.info(
    { ledger: server.ledger.kind, dataDir: server.ledger.kind === 'pglite' ? config.DATA_DIR : undefined },
    `ai-spend-ledger listening on ${server.url}`,
  );
  const stop = (signal: string) => {
    server.app.log.info({ signal }, 'draining in-flight requests');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`ai-spend-ledger failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
