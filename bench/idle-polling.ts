import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** How this machine's idle cores wait, as far as it bears on waking them. */
export interface IdlePolling {
  /** The cpuidle driver in use (`haltpoll`, `acpi_idle`, `none`…); null where the kernel shows none. */
  cpuidle_driver: string | null;
  /**
   * How long an idle core of a KVM guest spins before it halts (ns; the kernel's default is
   * 200,000): the haltpoll driver's setting, null unless that driver is in use. At 0 every idle
   * core halts at once and each wake-up of it goes through the hypervisor.
   */
  guest_halt_poll_ns: number | null;
}

export const CPUIDLE_DRIVER = 'sys/devices/system/cpu/cpuidle/current_driver';
export const HALT_POLL_SETTING = 'sys/module/haltpoll/parameters/guest_halt_poll_ns';

/**
 * Reads the idle setting under `root` (the machine's own by default). The haltpoll module's
 * setting can exist while another driver, or none, runs the idle cores (a guest booted without
 * `cpuidle_haltpoll.force=1`, say); it then changes nothing, so it is reported only where the
 * haltpoll driver is the one in use.
 */
export function idlePolling(root = '/'): IdlePolling {
  const driver = readSetting(join(root, CPUIDLE_DRIVER));
  const setting = driver === 'haltpoll' ? readSetting(join(root, HALT_POLL_SETTING)) : null;
  return { cpuidle_driver: driver, guest_halt_poll_ns: setting === null ? null : Number(setting) };
}

/** The bench's words for it, appended to its wake-up line. */
export function describeIdlePolling(p: IdlePolling): string {
  if (p.guest_halt_poll_ns !== null) {
    return p.guest_halt_poll_ns === 0
      ? '; idle cores halt at once (guest_halt_poll_ns 0)'
      : `; idle cores spin up to ${p.guest_halt_poll_ns / 1000} µs before they halt (guest_halt_poll_ns ${p.guest_halt_poll_ns})`;
  }
  return p.cpuidle_driver === null ? '' : `; cpuidle driver: ${p.cpuidle_driver}`;
}

function readSetting(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}
