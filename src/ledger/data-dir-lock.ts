import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const LOCK_FILE = '.ledger.lock';

/**
 * PGlite files may be opened by one process only. The process that opens them holds this lock
 * file (its pid inside); a lock whose process is gone is taken over.
 */
export function lockPath(dataDir: string): string {
  return path.join(dataDir, LOCK_FILE);
}

/** The lock, or its copy written aside (createWithPid) and left by a process killed while taking it. */
export function isLockFile(name: string): boolean {
  return name === LOCK_FILE || name.startsWith(`${LOCK_FILE}.`);
}

/**
 * The data directories this process holds. A lock file naming this process that is not among them
 * was left by an earlier process with the same pid: in a container the server is always pid 1, so
 * after an unclean stop its restart would otherwise find the ledger "in use" by itself for ever.
 */
const heldHere = new Set<string>();

/** The pid holding the data directory, or null when nobody alive holds it. */
export function lockHolder(dataDir: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(lockPath(dataDir), 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (pid === process.pid) return heldHere.has(path.resolve(dataDir)) ? pid : null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

export class DataDirBusyError extends Error {}

/** Takes the lock or throws DataDirBusyError; returns the function that gives it back. */
export function acquireLock(dataDir: string): () => void {
  const file = lockPath(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      createWithPid(file);
      heldHere.add(path.resolve(dataDir));
      return () => {
        heldHere.delete(path.resolve(dataDir));
        try {
          unlinkSync(file);
        } catch {
          // Already gone: nothing to give back.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = lockHolder(dataDir);
      if (holder !== null) throw new DataDirBusyError(`the embedded ledger in ${dataDir} is in use by process ${holder}`);
      unlinkSync(file);
    }
  }
  throw new DataDirBusyError(`could not lock ${dataDir}`);
}

/**
 * Creates the lock file with this process's pid already in it: written aside, then linked into
 * place, which fails if the lock exists. Created empty and written after, another process could
 * read it empty in between, take it for a dead holder's and remove it.
 */
function createWithPid(file: string): void {
  // Random, so that it is never a file another process has just linked as the lock.
  const aside = `${file}.${randomBytes(6).toString('hex')}`;
  writeFileSync(aside, String(process.pid), { mode: 0o600 });
  try {
    linkSync(aside, file);
  } finally {
    unlinkSync(aside);
  }
}
