import Fastify from 'fastify';

/**
 * The least any OTLP/JSON receiver must do, for the bench's HTTP ceiling: a bare Fastify route
 * that reads the body, parses it (Fastify's own JSON parser) and answers `{}`. No key, no ledger.
 */
const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
app.get('/readyz', async () => ({ ok: true }));
app.post(process.env.BARE_PATH ?? '/v1/traces', async () => ({}));
await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' });
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
