import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { post } from '../support/http.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

// Real OpenRouter deliveries live beside the project (../shared), not in it; where they are present
// (CI, developers' machines) they are posted verbatim, one request per line or file.
const dir = fileURLToPath(new URL('../../../shared/reference/openrouter/', import.meta.url));

describe.runIf(existsSync(dir))('real OpenRouter deliveries from ../shared/reference', () => {
  let server: TestServer;
  let key: string;
  beforeAll(async () => {
    server = await startTestServer();
    ({ key } = await server.key('acme'));
  });
  afterAll(() => server.stop());

  const send = async (file: string) => {
    const text = readFileSync(dir + file, 'utf8');
    const bodies = file.endsWith('.ndjson') ? text.split('\n').filter((l) => l.trim() !== '') : [text];
    for (const b of bodies) expect((await post(server.url, b, { key })).status).toBe(200);
  };

  it('lands them with the figures the issue states', async () => {
    await send('broadcast-with-content.ndjson');
    await send('broadcast-with-content-and-user.ndjson');
    const [content] = await server.query(`SELECT count(*)::text AS n, sum(cost_usd)::text AS usd FROM generations`);
    expect(content).toEqual({ n: '3', usd: '0.08513895' });

    await send('privacy-mode-root-only.json');
    const [privacy] = await server.query(`
      SELECT cost_usd::text, input_tokens::text, output_tokens::text, total_tokens::text, reasoning_tokens::text
      FROM generations WHERE model = 'deepseek/deepseek-v4-flash'`);
    expect(privacy).toEqual({ cost_usd: '0.00006958', input_tokens: '25', output_tokens: '236', total_tokens: '261', reasoning_tokens: '101' });

    await send('connection-test.json');
    const [after] = await server.query(`SELECT count(*)::text AS n FROM generations`);
    expect(after).toEqual({ n: '4' });
    const [spans] = await server.query(`SELECT count(*)::text AS n FROM spans`);
    expect(spans).toEqual({ n: '10' });
  });
});
