import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CPUIDLE_DRIVER, describeIdlePolling, HALT_POLL_SETTING, idlePolling } from '../../bench/idle-polling.js';

// A machine's /sys as files under a directory of the test's own.
const roots: string[] = [];
function machine(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'idle-polling-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), `${text}\n`);
  }
  return root;
}
afterEach(() => roots.splice(0).forEach((root) => rmSync(root, { recursive: true, force: true })));

describe("the bench's reading of how idle cores wait", () => {
  it('names the haltpoll setting where the haltpoll driver runs the idle cores', () => {
    const polling = idlePolling(machine({ [CPUIDLE_DRIVER]: 'haltpoll', [HALT_POLL_SETTING]: '200000' }));
    expect(polling).toEqual({ cpuidle_driver: 'haltpoll', guest_halt_poll_ns: 200000 });
    expect(describeIdlePolling(polling)).toBe('; idle cores spin up to 200 µs before they halt (guest_halt_poll_ns 200000)');
    const halting = idlePolling(machine({ [CPUIDLE_DRIVER]: 'haltpoll', [HALT_POLL_SETTING]: '0' }));
    expect(describeIdlePolling(halting)).toBe('; idle cores halt at once (guest_halt_poll_ns 0)');
  });

  it('leaves the haltpoll setting out where another driver, or none, runs the idle cores', () => {
    // The module's setting is there, but nothing reads it: claiming 200 µs of polling would be wrong.
    const none = idlePolling(machine({ [CPUIDLE_DRIVER]: 'none', [HALT_POLL_SETTING]: '200000' }));
    expect(none).toEqual({ cpuidle_driver: 'none', guest_halt_poll_ns: null });
    expect(describeIdlePolling(none)).toBe('; cpuidle driver: none');
    expect(idlePolling(machine({ [CPUIDLE_DRIVER]: 'acpi_idle' })).guest_halt_poll_ns).toBeNull();
  });

  it('says nothing where the kernel shows no cpuidle at all', () => {
    const bare = idlePolling(machine({}));
    expect(bare).toEqual({ cpuidle_driver: null, guest_halt_poll_ns: null });
    expect(describeIdlePolling(bare)).toBe('');
  });
});
