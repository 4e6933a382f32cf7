#!/usr/bin/env node
// The `ledger` command: the compiled CLI when it is built and newer than the source (the container
// has no source), else the TypeScript source through tsx, so that the bin works on a fresh clone and
// never runs a build older than the code beside it (the bench builds dist/; a pull or an edit then
// leaves it behind).
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const compiled = path.join(root, 'dist/src/cli.js');
const source = path.join(root, 'src');

function newestMtimeMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
  }
  return newest;
}

const useCompiled = existsSync(compiled) && (!existsSync(source) || statSync(compiled).mtimeMs >= newestMtimeMs(source));
if (useCompiled) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(source, 'cli.ts')).href);
}
