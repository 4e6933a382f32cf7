import type { Kysely } from 'kysely';
import type { DB } from '../ledger/schema.js';
import { ParamError } from './report-params.js';

export interface OrgRef {
  id: string;
  slug: string;
}

/** The organisation a command line report is about: the one named, or the only one there is. */
export async function resolveOrg(db: Kysely<DB>, slug: string | undefined): Promise<OrgRef> {
  if (slug) {
    const org = await db.selectFrom('orgs').select(['id', 'slug']).where('slug', '=', slug).executeTakeFirst();
    if (!org) throw new ParamError('org', `no organisation "${slug}"`);
    return org;
  }
  const orgs = await db.selectFrom('orgs').select(['id', 'slug']).orderBy('slug').limit(2).execute();
  if (orgs.length === 1) return orgs[0]!;
  throw new ParamError('org', orgs.length === 0 ? 'the ledger has no organisation yet' : 'several organisations: name one with --org');
}
