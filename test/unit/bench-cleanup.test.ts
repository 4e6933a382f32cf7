import { describe, expect, it } from 'vitest';
import { Cleanup } from '../../bench/cleanup.js';

describe("the bench's cleanup", () => {
  it('undoes the last-made first, every step once, and goes on past a step that fails', async () => {
    const cleanup = new Cleanup();
    const done: string[] = [];
    cleanup.add('drop schema a', () => void done.push('schema a'));
    cleanup.add('stop its servers', async () => {
      await new Promise((r) => setTimeout(r, 5));
      done.push('servers');
    });
    cleanup.add('drop schema a_raw', () => {
      throw new Error('lock timeout');
    });
    cleanup.add('remove directory d', () => void done.push('directory d'));

    const [first, second] = await Promise.all([cleanup.run(), cleanup.run()]);
    expect(done).toEqual(['directory d', 'servers', 'schema a']);
    expect(first).toEqual(['drop schema a_raw: lock timeout']);
    expect(second).toBe(first);
  });

  it('gives up a step that does not finish in time, says so, and goes on to the next', async () => {
    const cleanup = new Cleanup({ stepLimitMs: 50 });
    const done: string[] = [];
    cleanup.add('close its database connection', () => void done.push('connection'));
    cleanup.add('drop schema stuck', () => new Promise<void>(() => undefined));
    expect(await cleanup.run()).toEqual(['drop schema stuck: did not finish within 0.05 s']);
    expect(done).toEqual(['connection']);
  });

  it('refuses a step once cleaning up has begun, so nothing is made that would be left behind', async () => {
    const cleanup = new Cleanup();
    const running = cleanup.run();
    expect(() => cleanup.add('drop schema late', () => undefined)).toThrow(/the bench is stopping/);
    expect(await running).toEqual([]);
  });
});
