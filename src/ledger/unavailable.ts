/** The ledger could not answer or take a write; the caller should retry later (503). */
export class LedgerUnavailableError extends Error {}

/**
 * Runs a ledger operation; any failure of it becomes a LedgerUnavailableError naming what failed,
 * with the failure as its cause (the log's error serializer appends the cause's message).
 */
export async function orUnavailable<T>(what: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw new LedgerUnavailableError(`the ledger could not ${what}`, { cause: err });
  }
}
