import Big from 'big.js';

// Money never touches floating-point arithmetic: amounts are decimal strings, sums are big.js sums.
Big.DP = 40;
Big.NE = -1e6;
Big.PE = 1e6;

const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Bounds on an amount: far beyond any real spend, and they keep a short exponent from expanding
 * into text that exhausts memory (`1e999999999` would be a gigabyte of digits) or that Postgres
 * `numeric` cannot hold.
 */
const MAX_MAGNITUDE_EXPONENT = 14;
const MAX_DECIMAL_PLACES = 1000;

/** A value that is not an amount of money; the message completes "… must be". */
export class NotAnAmountError extends Error {}

/**
 * The exact decimal a sender meant. A double is taken at its shortest round-trip text (what JSON
 * shows), so 6.958e-05 is 0.00006958 and not the binary fraction behind it.
 * Throws NotAnAmountError for a value that is not a finite number within the bounds.
 */
export function toDecimal(value: number | string): string {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : null) : value.trim();
  if (text === null || !NUMERIC.test(text)) throw new NotAnAmountError('a finite number');
  // big.js takes no leading plus sign.
  const amount = new Big(text.startsWith('+') ? text.slice(1) : text);
  if (amount.eq(0)) return '0';
  if (amount.e > MAX_MAGNITUDE_EXPONENT) {
    throw new NotAnAmountError(`less than 1e${MAX_MAGNITUDE_EXPONENT + 1} in magnitude`);
  }
  if (amount.c.length - 1 - amount.e > MAX_DECIMAL_PLACES) {
    throw new NotAnAmountError(`given to at most ${MAX_DECIMAL_PLACES} decimal places`);
  }
  return amount.toFixed();
}

export function addDecimals(values: readonly string[]): string {
  return values.reduce((sum, v) => sum.plus(v), new Big(0)).toFixed();
}

/** Nanoseconds between two timestamps as exact milliseconds. */
export function nanosToMillis(startNs: string, endNs: string): string {
  return new Big((BigInt(endNs) - BigInt(startNs)).toString()).div(1_000_000).toFixed();
}
