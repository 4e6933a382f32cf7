import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A recognisable prefix, so that secret scanners and people can tell a ledger key on sight. */
export const KEY_PREFIX = 'asl_';
const KEY_SHAPE = /^asl_[A-Za-z0-9_-]{43}$/;

export type Scope = 'ingest' | 'read';

/** 256 random bits: a fast hash suffices, nobody can guess or brute-force such a key. */
export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The credential of an `Authorization: Bearer …` header, or null when there is none. */
export function bearerCredential(authorization: string | undefined): string | null {
  return (authorization ? BEARER.exec(authorization)?.[1] : undefined) ?? null;
}

export function looksLikeKey(key: string): boolean {
  return KEY_SHAPE.test(key);
}

const KEY_ANYWHERE = /asl_[A-Za-z0-9_-]{43}/g;

/** Text with every key-shaped part masked: for log lines holding what a sender wrote (a URL, a header). */
export function maskKeys(text: string): string {
  return text.replace(KEY_ANYWHERE, `${KEY_PREFIX}[redacted]`);
}

/** What may be shown of a key: its prefix and first characters. */
export function displayPrefix(key: string): string {
  return key.slice(0, KEY_PREFIX.length + 6);
}

export function sameHash(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
