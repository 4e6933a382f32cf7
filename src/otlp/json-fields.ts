import { pgSafe } from './model.js';
import { double } from './decode-protobuf.js';

// Typed fields read out of a parsed OTLP/JSON body, each as the OTLP JSON mapping allows it.

export type Json = Record<string, unknown>;

/** A part of the body that breaks the OTLP JSON mapping; the span that holds it is rejected. */
export class BadField extends Error {}

export function pick(o: Json, camel: string, snake: string): unknown {
  return o[camel] !== undefined ? o[camel] : o[snake];
}

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown, what: string): Json {
  if (!isObject(v)) throw new BadField(`${what} must be an object`);
  return v;
}

export function optObj(v: unknown, what: string): Json {
  return v === undefined || v === null ? {} : obj(v, what);
}

export function list(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new BadField(`${what} must be an array`);
  return v;
}

export function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new BadField(`expected a string, got ${typeof v}`);
  return pgSafe(v);
}

export function uint(v: unknown): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new BadField(`expected an unsigned 32-bit integer, got ${JSON.stringify(v)}`);
  }
  return n;
}

const UINT64_LIMIT = 2 ** 64;

export function uint64(v: unknown, what: string): string {
  if (v === undefined || v === null) return '0';
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return BigInt(v).toString();
  // The proto3 JSON mapping lets senders write 64-bit integers as numbers too. A nanosecond time
  // is past 2^53, so JSON.parse has already rounded it (to 256 ns, today): that is the best there is.
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < UINT64_LIMIT) return BigInt(v).toString();
  throw new BadField(`${what} must be an unsigned integer (as a decimal string), got ${JSON.stringify(v)}`);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export function int64(v: unknown): number | string {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) {
    const n = Number(v);
    if (Number.isSafeInteger(n)) return n;
    // Over 19 significant digits is out of range: no BigInt of a megabyte of digits.
    const big = v.replace(/^-?0*/, '').length <= 19 ? BigInt(v) : null;
    if (big !== null && big >= INT64_MIN && big <= INT64_MAX) return big.toString();
    throw new BadField(`intValue ${v.slice(0, 40)} is outside the 64-bit integer range`);
  }
  throw new BadField(`intValue must be an integer or a decimal string, got ${JSON.stringify(v)}`);
}

export function doubleValue(v: unknown): number | string {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return v;
    const n = Number(v);
    if (v.trim() !== '' && Number.isFinite(n)) return double(n);
  }
  throw new BadField(`doubleValue must be a number, got ${JSON.stringify(v)}`);
}

export function enumValue(v: unknown, names: Record<string, number>, what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 32768) return v;
  if (typeof v === 'string' && names[v] !== undefined) return names[v];
  throw new BadField(`${what} must be an enum integer, got ${JSON.stringify(v)}`);
}

export function hexId(v: unknown, what: string): string {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v !== 'string' || !/^[0-9a-fA-F]*$/.test(v)) {
    throw new BadField(`${what} must be a hex string, got ${JSON.stringify(v).slice(0, 80)}`);
  }
  return v.toLowerCase();
}
