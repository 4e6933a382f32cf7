import type { Kysely } from 'kysely';
import type { DB } from '../ledger/schema.js';
import { bearerCredential, hashKey, looksLikeKey, sameHash, type Scope } from './key-format.js';
import { findKeyByHash, markKeysUsed, type StoredKey } from './key-store.js';
import { orUnavailable } from '../ledger/unavailable.js';

export interface Principal {
  keyId: string;
  orgId: string;
  org: string;
  keyName: string;
  scope: Scope;
}

export type Verdict =
  | { ok: true; principal: Principal }
  | { ok: false; status: 401 | 403; message: string };

interface CacheEntry {
  key: StoredKey | null;
  expires: number;
}

const MAX_CACHED = 10_000;

/**
 * Checks bearer keys. A verdict is cached for `cacheMs`, so a revocation takes effect on every
 * server within that time while the hot path stays free of database round trips.
 */
export class KeyVerifier {
  #cache = new Map<string, CacheEntry>();
  #inFlight = new Map<string, Promise<StoredKey | null>>();
  #used = new Set<string>();
  #flushTimer: NodeJS.Timeout;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly cacheMs: number,
    usedFlushMs = 1_000,
  ) {
    this.#flushTimer = setInterval(() => void this.flushUsed().catch(() => {}), usedFlushMs);
    this.#flushTimer.unref();
  }

  async verify(authorization: string | undefined, scope: Scope): Promise<Verdict> {
    const key = bearerCredential(authorization);
    if (key === null) return { ok: false, status: 401, message: 'missing API key: send "Authorization: Bearer <key>"' };
    const stored = looksLikeKey(key) ? await this.#lookup(hashKey(key)) : null;
    if (!stored || stored.revoked) return { ok: false, status: 401, message: 'invalid or revoked API key' };
    if (stored.scope !== scope) {
      return { ok: false, status: 403, message: `this API key has scope "${stored.scope}"; this endpoint needs "${scope}"` };
    }
    this.#used.add(stored.id);
    return {
      ok: true,
      principal: { keyId: stored.id, orgId: stored.orgId, org: stored.org, keyName: stored.name, scope: stored.scope },
    };
  }

  /** Writes "last used" for the keys seen since the previous flush (kept off the request path). */
  async flushUsed(): Promise<void> {
    if (this.#used.size === 0) return;
    const ids = [...this.#used];
    this.#used.clear();
    await markKeysUsed(this.db, ids);
  }

  async close(): Promise<void> {
    clearInterval(this.#flushTimer);
    await this.flushUsed();
  }

  async #lookup(keyHash: Buffer): Promise<StoredKey | null> {
    const cacheKey = keyHash.toString('base64');
    const now = Date.now();
    const hit = this.#cache.get(cacheKey);
    if (hit && hit.expires > now) {
      // Refresh ahead: in the last quarter of a verdict's life one lookup renews it in the
      // background, so that steady traffic does not wait for the database when it expires.
      if (hit.expires - now < this.cacheMs / 4) this.#fetch(cacheKey, keyHash).catch(() => undefined);
      return hit.key;
    }
    return this.#fetch(cacheKey, keyHash);
  }

  /**
   * One lookup per key at a time, shared by every request that needs it meanwhile: concurrent
   * requests with an expired key would otherwise each query the database at once.
   */
  #fetch(cacheKey: string, keyHash: Buffer): Promise<StoredKey | null> {
    const inFlight = this.#inFlight.get(cacheKey);
    if (inFlight) return inFlight;
    // The verdict is as old as the moment the lookup began: counting its life from then keeps a
    // revocation's delay within cacheMs.
    const started = Date.now();
    const lookup = orUnavailable('look up the API key', () => findKeyByHash(this.db, keyHash))
      .then((found) => {
        // The database matched by hash already; compare once more in constant time all the same.
        const key = found && sameHash(found.keyHash, keyHash) ? found : null;
        if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
        this.#cache.set(cacheKey, { key, expires: started + this.cacheMs });
        return key;
      })
      .finally(() => this.#inFlight.delete(cacheKey));
    this.#inFlight.set(cacheKey, lookup);
    return lookup;
  }
}
