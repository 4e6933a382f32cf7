import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { commitFloor } from '../../bench/commit-floor.js';
import { wakeUpRoundTrip } from '../../bench/wake-up.js';

/**
 * The bench's last two stages, in a process of their own as the bench runs them: the commit floor
 * on in-process PGlite for 4 s, then the wake-up round trip with a 3 s answer window. Prints the
 * round trips, or the error's message.
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'wake-up-'));
try {
  await commitFloor({ dataDir }, 4);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
const outcome = await wakeUpRoundTrip(0.1, { answerWithinMs: 3_000 }).then(
  (w) => ({ round_trips: w.round_trips }),
  (err: Error) => ({ error: err.message }),
);
process.stdout.write(`${JSON.stringify(outcome)}\n`);
