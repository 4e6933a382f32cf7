import Big from 'big.js';

// Money never touches floating-point arithmetic: amounts are decimal strings, sums are big.js sums.
Big.DP = 40;
Big.NE = -1e6;
Big.PE = 1e6;

const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * The exact decimal a sender meant. A double is taken at its shortest round-trip text (what JSON
 * shows), so 6.958e-05 is 0.00006958 and not the binary fraction behind it.
 * Returns null for values that are not a finite number.
 */
export function toDecimal(value: number | string): string | null {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? new Big(String(value)).toFixed() : null;
  }
  const s = value.trim();
  return NUMERIC.test(s) ? new Big(s).toFixed() : null;
}

export function addDecimals(values: readonly string[]): string {
  return values.reduce((sum, v) => sum.plus(v), new Big(0)).toFixed();
}

/** Nanoseconds between two timestamps as exact milliseconds. */
export function nanosToMillis(startNs: string, endNs: string): string {
  return new Big((BigInt(endNs) - BigInt(startNs)).toString()).div(1_000_000).toFixed();
}
