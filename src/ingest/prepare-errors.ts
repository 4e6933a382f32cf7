import { TooManySpansError, UndecodableBodyError } from '../otlp/model.js';

/**
 * A preparation thread's failure crosses to the serving thread as a kind and a message, and is
 * made again there as the error it was, so that the sender hears the same as without threads.
 */
const ERRORS = { undecodable: UndecodableBodyError, too_many_spans: TooManySpansError, other: Error } as const;

export type PrepareErrorKind = keyof typeof ERRORS;

export function prepareErrorKind(err: unknown): PrepareErrorKind {
  if (err instanceof UndecodableBodyError) return 'undecodable';
  if (err instanceof TooManySpansError) return 'too_many_spans';
  return 'other';
}

export function prepareError(kind: PrepareErrorKind, message: string): Error {
  return new ERRORS[kind](message);
}
