import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../ledger/schema.js';
import { displayPrefix, generateKey, hashKey, type Scope } from './key-format.js';

export interface StoredKey {
  id: string;
  orgId: string;
  org: string;
  name: string;
  scope: Scope;
  keyHash: Buffer;
  revoked: boolean;
}

export interface KeyListing {
  id: string;
  org: string;
  name: string;
  scope: Scope;
  prefix: string;
  created: string;
  lastUsed: string | null;
  lastTested: string | null;
  revoked: string | null;
}

/** An argument the key store cannot take: a slug that cannot be one, a key id it does not hold. */
export class KeyStoreError extends Error {}

export const ORG_SLUG = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Creates the organisation if new and a key for it; the secret is returned here and never again. */
export async function createKey(
  db: Kysely<DB>,
  input: { org: string; name?: string; scope: Scope },
): Promise<{ id: string; org: string; name: string; scope: Scope; key: string; newOrg: boolean }> {
  if (!ORG_SLUG.test(input.org)) {
    throw new KeyStoreError(`invalid org slug "${input.org}": use lowercase letters, digits, - and _ (max 63)`);
  }
  const key = generateKey();
  const id = randomUUID();
  const name = input.name ?? `${input.scope} key ${new Date().toISOString().slice(0, 10)}`;
  const newOrg = await db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto('orgs')
      .values({ slug: input.org })
      .onConflict((oc) => oc.column('slug').doNothing())
      .returning('id')
      .executeTakeFirst();
    const org = inserted ?? (await trx.selectFrom('orgs').select('id').where('slug', '=', input.org).executeTakeFirstOrThrow());
    await trx
      .insertInto('api_keys')
      .values({
        org_id: org.id,
        id,
        name,
        scope: input.scope,
        key_prefix: displayPrefix(key),
        key_hash: hashKey(key),
        last_used_at: null,
        last_tested_at: null,
        revoked_at: null,
      })
      .execute();
    return inserted !== undefined;
  });
  return { id, org: input.org, name, scope: input.scope, key, newOrg };
}

/** A key's time as listings show it: UTC, to the second. */
const utcSecond = <T>(column: string) => sql<T>`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;

export async function listKeys(db: Kysely<DB>, org?: string): Promise<KeyListing[]> {
  let q = db
    .selectFrom('api_keys as k')
    .innerJoin('orgs as o', 'o.id', 'k.org_id')
    .select([
      'k.id',
      'o.slug as org',
      'k.name',
      'k.scope',
      'k.key_prefix as prefix',
      utcSecond<string>('k.created_at').as('created'),
      utcSecond<string | null>('k.last_used_at').as('lastUsed'),
      utcSecond<string | null>('k.last_tested_at').as('lastTested'),
      utcSecond<string | null>('k.revoked_at').as('revoked'),
    ])
    .orderBy('o.slug')
    .orderBy('k.created_at');
  if (org) q = q.where('o.slug', '=', org);
  return q.execute();
}

/**
 * Revokes a key; returns when it was revoked and whether that was now, or null when there is no
 * such key. A key revoked before keeps its first revocation time.
 */
export async function revokeKey(db: Kysely<DB>, id: string): Promise<{ revokedAt: string; now: boolean } | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const revokedAt = utcSecond<string>('revoked_at').as('revokedAt');
  const revoked = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql`now()` })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .returning(revokedAt)
    .executeTakeFirst();
  if (revoked) return { revokedAt: revoked.revokedAt, now: true };
  const before = await db.selectFrom('api_keys').select(revokedAt).where('id', '=', id).executeTakeFirst();
  return before ? { revokedAt: before.revokedAt, now: false } : null;
}

export async function findKeyByHash(db: Kysely<DB>, keyHash: Buffer): Promise<StoredKey | null> {
  const row = await db
    .selectFrom('api_keys as k')
    .innerJoin('orgs as o', 'o.id', 'k.org_id')
    .select(['k.id', 'k.org_id', 'o.slug', 'k.name', 'k.scope', 'k.key_hash', 'k.revoked_at'])
    .where('k.key_hash', '=', keyHash)
    .executeTakeFirst();
  if (!row) return null;
  return {
    id: row.id,
    orgId: row.org_id,
    org: row.slug,
    name: row.name,
    scope: row.scope,
    keyHash: Buffer.from(row.key_hash),
    revoked: row.revoked_at !== null,
  };
}

export async function markKeysUsed(db: Kysely<DB>, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.updateTable('api_keys').set({ last_used_at: sql`now()` }).where('id', 'in', ids).execute();
}

export async function markKeyTested(db: Kysely<DB>, id: string): Promise<void> {
  await db.updateTable('api_keys').set({ last_tested_at: sql`now()` }).where('id', '=', id).execute();
}
