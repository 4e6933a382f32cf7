import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS } from '../../bench/server-process.js';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

// The server cannot set its own young generation once started, so each launcher must pass it:
// without it Node 24 peaked over the 300 MB goal, and only the bench would show it (the container
// now runs Node 26, started alike).
describe("the server's Node flags", () => {
  it('are the same in npm start, the container image and the bench', () => {
    const start = (JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start;
    const cmd = /^CMD (\[.*\])$/m.exec(read('Dockerfile'))?.[1];
    expect(SERVER_NODE_FLAGS).toContain('--max-semi-space-size=8');
    expect(start.split(' ').slice(0, 2)).toEqual(['exec', 'node']);
    expect(start.split(' ').slice(2, -3)).toEqual(SERVER_NODE_FLAGS);
    expect(start.split(' ').slice(-3)).toEqual(['--import', 'tsx', 'src/main.ts']);
    expect((JSON.parse(cmd ?? '[]') as string[]).slice(1, -1)).toEqual(SERVER_NODE_FLAGS);
  });
});
