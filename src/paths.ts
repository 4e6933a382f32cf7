import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's root: the nearest folder above this module that holds package.json. The same
 * from src/ (tsx) and from dist/src/ (compiled), so proto/ and migrations/ are found from either.
 */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the project root (package.json)');
    dir = parent;
  }
  return dir;
}

export const PROJECT_ROOT = findRoot();
export const PROTO_DIR = path.join(PROJECT_ROOT, 'proto');
export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'migrations');
