import { statfs } from 'node:fs/promises';
import type { FastifyBaseLogger } from 'fastify';
import { runEvery } from './run-every.js';

const CHECK_INTERVAL_MS = 1_000;
const MB = 1024 * 1024;

/** What a sender and a readiness probe are told while the disk is under the floor. */
export const DISK_FULL = "the ledger's disk is nearly full";

/**
 * The free space on the embedded ledger's disk, against a floor. PGlite that runs out of disk in a
 * write does not fail it: it spins at a full core for ever, answering nothing, not even /healthz,
 * until killed (a ledger on an 80 MB tmpfs filled by deliveries; freeing space did not bring it
 * back). So while the space is under the floor the server refuses deliveries, which senders retry.
 */
export class DiskSpaceGuard {
  /** Free bytes at the last check; null before the first. */
  freeBytes: number | null = null;

  constructor(
    readonly dir: string,
    readonly floorMb: number,
  ) {}

  get low(): boolean {
    return this.freeBytes !== null && this.freeBytes < this.floorMb * MB;
  }

  /** Reads the free space; returns whether it crossed the floor, either way. */
  async check(): Promise<boolean> {
    const wasLow = this.low;
    const { bavail, bsize } = await statfs(this.dir);
    this.freeBytes = bavail * bsize;
    return this.low !== wasLow;
  }
}

/**
 * Checks now and every second, saying in the log when the floor is crossed; a check that fails
 * (DATA_DIR gone from under the server) is logged once, and again when checks work again, not
 * every second. Returns the function that stops it.
 */
export async function watchDiskSpace(guard: DiskSpaceGuard, log: FastifyBaseLogger): Promise<() => Promise<void>> {
  let failing = false;
  const check = async () => {
    let crossed: boolean;
    try {
      crossed = await guard.check();
    } catch (err) {
      if (!failing) log.error({ err, dataDir: guard.dir }, 'disk space check failed (not logged again until it works)');
      failing = true;
      return;
    }
    if (failing) log.info({ dataDir: guard.dir }, 'disk space check works again');
    failing = false;
    if (!crossed) return;
    const detail = { dataDir: guard.dir, freeMb: Math.floor(guard.freeBytes! / MB), floorMb: guard.floorMb };
    if (guard.low) log.error(detail, 'embedded ledger disk nearly full: deliveries refused (503) until space is freed (LEDGER_MIN_FREE_DISK_MB)');
    else log.info(detail, 'embedded ledger disk has room again: deliveries accepted');
  };
  await check();
  return runEvery(CHECK_INTERVAL_MS, check, (err) => log.error({ err }, 'disk space check failed'));
}
