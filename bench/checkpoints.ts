import type pg from 'pg';

/**
 * Milliseconds Postgres's checkpointer has spent so far in the fsync that ends each checkpoint.
 * On a filesystem such as ext4 that fsync can hold up the WAL flush of every commit meanwhile
 * (seen: commits of 130–160 ms while a checkpoint synced), so a paced run's tail latency is read
 * beside it. Version 17 moved the figure from pg_stat_bgwriter to pg_stat_checkpointer.
 */
export async function checkpointSyncMs(client: pg.Client): Promise<number> {
  const version = Number((await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v);
  const query = version >= 170000
    ? 'SELECT sync_time AS ms FROM pg_stat_checkpointer'
    : 'SELECT checkpoint_sync_time AS ms FROM pg_stat_bgwriter';
  return Number((await client.query<{ ms: number }>(query)).rows[0]!.ms);
}
