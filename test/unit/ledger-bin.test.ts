import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;

/** A package laid out as the project is, whose compiled and source CLIs say which one ran. */
function layout(parts: { compiledAt?: number; sourceAt?: number }): string {
  dir = mkdtempSync(path.join(tmpdir(), 'ledger-bin-'));
  mkdirSync(path.join(dir, 'bin'));
  copyFileSync(path.join(root, 'bin/ledger.js'), path.join(dir, 'bin/ledger.js'));
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
  const file = (rel: string, text: string, at: number) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
    utimesSync(path.join(dir, rel), at, at);
  };
  if (parts.compiledAt !== undefined) file('dist/src/cli.js', 'console.log("compiled");', parts.compiledAt);
  // Only a file deep in src/ is newer than the build in the stale case: the bin must look at all of them.
  if (parts.sourceAt !== undefined) file('src/ledger/deep.ts', 'export {};', parts.sourceAt);
  if (parts.sourceAt !== undefined) file('src/cli.ts', 'console.log("source");', parts.sourceAt - 1_000_000);
  return execFileSync(process.execPath, [path.join(dir, 'bin/ledger.js')]).toString().trim();
}

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the ledger bin', () => {
  it('runs the build when it is newer than every source file, or when there is no source (the container)', () => {
    expect(layout({ compiledAt: 2_000_000, sourceAt: 1_000_000 })).toBe('compiled');
    rmSync(dir, { recursive: true, force: true });
    expect(layout({ compiledAt: 2_000_000 })).toBe('compiled');
  });

  it('runs the source when any source file is newer than the build (a pull or an edit since), or there is no build', () => {
    expect(layout({ compiledAt: 1_500_000, sourceAt: 2_000_000 })).toBe('source');
    rmSync(dir, { recursive: true, force: true });
    expect(layout({ sourceAt: 2_000_000 })).toBe('source');
  });
});
